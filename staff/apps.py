"""App configurations: staff accounts, and django-axes under a name in the operators' language."""

from axes.apps import AppConfig as BaseAxesConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    default = True  # the module holds two configs: "staff" in INSTALLED_APPS means this one
    name = "staff"
    verbose_name = _("Staff accounts")
    default_auto_field = "django.db.models.BigAutoField"


class AxesConfig(BaseAxesConfig):
    """django-axes as it is, with a translated name on the admin index ("Axes" otherwise)."""

    default = False
    verbose_name = _("Login attempts")
