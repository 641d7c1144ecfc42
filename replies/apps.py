"""App configuration: wires the system checks, the rule-set signals and the staff groups."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepliesConfig(AppConfig):
    name = "replies"
    verbose_name = _("WeChat auto-reply")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from replies import checks, signals  # noqa: F401  (registers them)
        from replies.endpoint import config  # noqa: F401  (registers its setting_changed hook)
        from replies.groups import ensure_staff_groups

        post_migrate.connect(ensure_staff_groups, sender=self)
