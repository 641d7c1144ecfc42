"""App configuration: registers the system checks and the secrets' setting_changed hook."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Official accounts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import checks, secrets  # noqa: F401  (registers them)
