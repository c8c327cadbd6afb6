"""Adapters for template engines and frameworks: :mod:`.jinja2`, :mod:`.flask`, :mod:`.django`.

Each is a few lines over :mod:`linkback.render`; the framework itself is an optional extra
(``pip install linkback[flask]``, ``linkback[django]``).
"""
