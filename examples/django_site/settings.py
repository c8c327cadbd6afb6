"""Settings of the example Django site: the ``LINKBACK`` setting and the template tag library.

URLs: ``/`` and ``/posts/<slug>/`` (slugs in :data:`examples.django_site.views.POSTS`).

Run it from the repository root::

    python examples/django_site/manage.py runserver 127.0.0.1:5003
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
ROOT_URLCONF = "examples.django_site.urls"
WSGI_APPLICATION = "examples.django_site.wsgi.application"
INSTALLED_APPS = ["linkback.contrib.django"]
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

LINKBACK = {
    "database": os.environ.get("LINKBACK_DB", "linkback.db"),
    "sites": ["localhost", "127.0.0.1", "testserver"],
    "display": {"limit": 10},
}
