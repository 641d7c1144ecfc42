"""Permissions in the operators' language in the user and group admins' permission widgets.

Django stores a permission's name in English when it creates it ("Can view message") and its
admin shows that name as stored, after the content type ("回复 | 消息 | Can view message").
Rather than rewrite the stored names (which would be English again for a new model, and wrong
for a staff user who reads the admin in English), the widgets label each permission when the
page is drawn: Django's default actions through one translated phrase each with the model's
translated verbose name, a model's own Meta.permissions through their (lazy, translated) names,
and anything else as stored.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.utils.translation import gettext_lazy as _

ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}

# django-otp's apps and models have English names only (and its admin is replaced by staff's):
# their permissions are named after the staff app's pages for the same devices.
TWO_FACTOR = _("Two-factor authentication")
OTHER_APPS = {
    ("otp_totp", "totpdevice"): (TWO_FACTOR, _("authenticator app")),
    ("otp_static", "staticdevice"): (TWO_FACTOR, _("backup codes")),
    ("otp_static", "statictoken"): (TWO_FACTOR, _("backup code")),
}


def permission_label(permission: Permission) -> str:
    """Return "app | model | what it allows", each part translated when the code knows it."""
    content_type = permission.content_type
    model = content_type.model_class()
    if model is None:  # a model removed from the code: only the stored name is left
        return str(permission)
    opts = model._meta
    app_name, model_name = OTHER_APPS.get(
        (opts.app_label, opts.model_name), (opts.app_config.verbose_name, opts.verbose_name)
    )
    action = permission.codename.partition("_")[0]
    custom = dict(opts.permissions)
    if permission.codename in custom:
        name = str(custom[permission.codename])
    elif action in ACTIONS and permission.codename == f"{action}_{opts.model_name}":
        name = str(ACTIONS[action]) % {"model": model_name}
    else:
        name = permission.name
    return f"{app_name} | {model_name} | {name}"


class TranslatedPermissions:
    """A ModelAdmin mixin: the `permissions` / `user_permissions` widget shows permission_label."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Permission:
            field.label_from_instance = permission_label
            field.queryset = field.queryset.select_related("content_type")
        return field


def translate_permission_widgets(site: admin.AdminSite) -> None:
    """Re-register the user and group admins on `site` with TranslatedPermissions added."""
    for model, default in ((User, UserAdmin), (Group, GroupAdmin)):
        current = type(site._registry[model]) if site.is_registered(model) else default
        if issubclass(current, TranslatedPermissions):
            continue
        translated = type(
            current.__name__, (TranslatedPermissions, current), {"__module__": __name__}
        )
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, translated)
