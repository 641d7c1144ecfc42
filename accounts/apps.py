"""App configuration: registers the system checks and the secrets' setting_changed hook."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Official accounts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from accounts import checks, secrets  # noqa: F401  (registers them)
        from accounts.environment import ensure_environment_account

        # After every migrate and every flush (tests): the row all scoped data defaults to.
        post_migrate.connect(ensure_environment_account, sender=self)
