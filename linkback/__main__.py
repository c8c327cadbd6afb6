"""``python -m linkback``: the same as the ``linkback`` command."""

from .cli import main

main()
