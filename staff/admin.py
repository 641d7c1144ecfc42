"""Staff users' two-factor devices in the admin: see, and delete (a lost phone), never edit.

django-otp's own admin pages are replaced: their labels cannot be translated, and their change
form shows a device's secret key. A device is added on the user's own two-factor page or with
`manage.py add_totp_device`; a superuser deletes one here so that its owner can enrol a new phone.
"""

from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from replies.admin.safety import OfferedLookupsOnly
from staff.models import AuthenticatorApp, BackupCodes
from staff.permission_labels import translate_permission_widgets

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class DeviceAdmin(OfferedLookupsOnly, admin.ModelAdmin):
    list_display = ["owner", "device_name", "is_confirmed", "created", "last_used"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    search_help_text = _("Search by username.")
    fields = ["owner", "device_name", "is_confirmed", "created", "last_used"]
    readonly_fields = fields
    ordering = ["user__username", "pk"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("user"), ordering="user__username")
    def owner(self, device):
        return device.user.get_username()

    @admin.display(description=_("name"), ordering="name")
    def device_name(self, device):
        return device.name

    @admin.display(description=_("confirmed"), boolean=True, ordering="confirmed")
    def is_confirmed(self, device):
        return device.confirmed

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, device):
        return display_for_value(device.created_at, self.get_empty_value_display())

    @admin.display(description=_("last used"), ordering="last_used_at")
    def last_used(self, device):
        # Shown as Django shows a field: local time, and "-" for never rather than "None".
        return display_for_value(device.last_used_at, self.get_empty_value_display())


@admin.register(AuthenticatorApp)
class AuthenticatorAppAdmin(DeviceAdmin):
    pass


@admin.register(BackupCodes)
class BackupCodesAdmin(DeviceAdmin):
    list_display = [*DeviceAdmin.list_display, "codes_left"]
    fields = [*DeviceAdmin.fields, "codes_left"]
    readonly_fields = fields

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(codes=Count("token_set"))

    @admin.display(description=_("codes left"), ordering="codes")
    def codes_left(self, device):
        return device.codes


# Permission names in the operators' language in the user and group pages (staff.permission_labels).
translate_permission_widgets(admin.site)
