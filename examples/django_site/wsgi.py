"""The WSGI application, wrapped in the middleware configured by ``settings.LINKBACK``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from linkback.contrib.django import wrap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_site.settings")

application = wrap(get_wsgi_application())
