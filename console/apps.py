"""App configuration: the staff group for the menu (kept in step after migrate), the checks."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    name = "console"
    label = "console"
    verbose_name = _("WeChat console")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from console import checks  # noqa: F401  (registers them)
        from console.groups import ensure_console_groups

        post_migrate.connect(ensure_console_groups, sender=self)
