"""App configuration: wires the system checks when Django starts."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepliesConfig(AppConfig):
    name = "replies"
    verbose_name = _("WeChat auto-reply")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from replies import checks, config, signals  # noqa: F401  (registers them)
