"""The official accounts in the admin: superusers add and edit them, members may look.

Secrets are write-only here (accounts.forms): a page shows whether each one is saved ("已保存
••••"), never its value, to anyone. The environment account shows where its secrets live instead
of inputs for them. Every account shows the server URL to enter in WeChat's console.
"""

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.access import accounts_for
from accounts.forms import SECRET_LABELS, AccountForm, EnvironmentAccountForm
from accounts.models import SECRET_NAMES, Account
from replies.admin.safety import OfferedLookupsOnly

_SECRETS = _("Secrets")
_SECRETS_DESCRIPTION = _(
    "Stored encrypted (WECHAT_SECRETS_KEYS) and never shown again once saved: leave a field empty "
    "to keep its value, type a new value to replace it."
)
_ENVIRONMENT_NOTE = _(
    "This account's Token, AppID, EncodingAESKeys and AppSecret are settings of the environment "
    "(WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_ENCODING_AES_KEY, WECHAT_ENCODING_AES_KEY_PREVIOUS, "
    "WECHAT_APP_SECRET), never stored in the database: change them there and restart wxsite."
)


@admin.register(Account)
class AccountAdmin(OfferedLookupsOnly, admin.ModelAdmin):
    list_display = ["name", "endpoint", "app_id_shown", "original_id", "source", "updated_at"]
    search_fields = ["name", "slug", "original_id", "app_id"]
    search_help_text = _("Search by name, URL name, original ID or AppID.")
    readonly_fields = [
        "endpoint",
        "app_id_shown",
        "secrets_status",
        "environment_note",
        "created_at",
        "updated_at",
    ]

    # --- who may do what: superusers everything, members look at their accounts -------------

    def get_queryset(self, request):
        return accounts_for(request.user)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None):
        if request.user.is_active and request.user.is_superuser:
            return True
        visible = accounts_for(request.user)
        return visible.filter(pk=obj.pk).exists() if obj is not None else visible.exists()

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        # The environment account stands for the settings and for /wechat/: never deleted.
        if obj is not None and obj.from_environment:
            return False
        return request.user.is_active and request.user.is_superuser

    # --- the form: secrets write-only, the environment account's from the settings ----------

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and obj.from_environment:
            kwargs["form"] = EnvironmentAccountForm
        elif self.has_change_permission(request, obj):
            kwargs["form"] = AccountForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            # A member who may only look: what the account is, whether its secrets are set.
            return [
                (None, {"fields": ["name", "endpoint", "original_id", "app_id_shown"]}),
                (_SECRETS, {"fields": ["secrets_status"]}),
            ]
        if obj is not None and obj.from_environment:
            return [
                (None, {"fields": ["name", "endpoint", "original_id", "members", "all_staff"]}),
                (_SECRETS, {"fields": ["environment_note", "app_id_shown", "secrets_status"]}),
            ]
        main = ["name", "slug", "original_id", "app_id", "members", "all_staff"]
        if obj is not None:
            main.insert(2, "endpoint")
        secrets = [
            "token",
            "aes_key",
            "keep_previous_aes_key",
            "previous_aes_key",
            "clear_previous_aes_key",
            "app_secret",
            "clear_app_secret",
        ]
        return [
            (None, {"fields": main}),
            (_SECRETS, {"fields": secrets, "description": _SECRETS_DESCRIPTION}),
        ]

    # --- columns and read-only fields ---------------------------------------------------------

    @admin.display(description=_("server URL"), ordering="slug")
    def endpoint(self, account):
        return format_html("<code>{}</code>", account.endpoint_path)

    @admin.display(description="AppID")
    def app_id_shown(self, account):
        return account.credentials().app_id if account.from_environment else account.app_id

    @admin.display(description=_("source"))
    def source(self, account):
        return _("environment") if account.from_environment else _("database")

    @admin.display(description=_("secrets"))
    def secrets_status(self, account):
        if account.from_environment:
            saved, missing = _("set in the environment ••••"), _("not set in the environment")
        else:
            saved, missing = _("Saved ••••"), _("not set")
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308  (a constant)
            "{}: {}",
            (
                (SECRET_LABELS[name], saved if account.has_secret(name) else missing)
                for name in SECRET_NAMES
            ),
        )

    @admin.display(description=_("where the secrets are"))
    def environment_note(self, account):
        return _ENVIRONMENT_NOTE
