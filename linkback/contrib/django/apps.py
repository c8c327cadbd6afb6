"""The Django application of linkback: it provides the ``linkback`` template tag library."""

from __future__ import annotations

from django.apps import AppConfig


class LinkbackConfig(AppConfig):
    name = "linkback.contrib.django"
    label = "linkback"
    verbose_name = "Linkback"
