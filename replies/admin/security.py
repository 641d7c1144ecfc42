"""Admin for security events: read-only, filterable by check and address.

A check is shown by its translated label (replies.admin.event_labels); the stored code and the
protocol's English reason stay on the page as details, for logs and for searching the code.
Staff see the events of their accounts (replies.admin.scoping); an event with no account (a URL
naming no account we have) only a superuser sees, as it may belong to any.
"""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from replies.admin.display import revealed_field
from replies.admin.event_labels import label, recorded_codes
from replies.admin.readonly import ReadOnlyLogAdmin
from replies.admin.safety import OfferedLookupsOnly
from replies.admin.scoping import UNKNOWN, AccountScopedAdmin
from replies.models import SecurityEvent

CHECK = SecurityEvent._meta.get_field("code").verbose_name


class CheckFilter(admin.SimpleListFilter):
    """The checks the security log records, by label; fixed choices, so no DISTINCT scan."""

    title = CHECK
    parameter_name = "code"

    def lookups(self, request, model_admin):
        return sorted(((code, label(code)) for code in recorded_codes()), key=lambda c: c[1])

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(code=self.value())
        return queryset


# The fields holding what a refused request sent, shown with invisible characters revealed.
SENT_FIELDS = ("forwarded_for", "user_agent", "openid", "query", "body_excerpt")


@admin.register(SecurityEvent)
class SecurityEventAdmin(
    AccountScopedAdmin, ReadOnlyLogAdmin, OfferedLookupsOnly, admin.ModelAdmin
):
    unowned_rows = UNKNOWN
    list_display = [
        "occurred_at",
        "check_label",
        "count",
        "status",
        "ip",
        "forwarded_for_shown",
        "openid_shown",
        "reason",
    ]
    list_filter = [CheckFilter, "status"]
    search_fields = ["=ip", "forwarded_for", "=openid"]
    show_full_result_count = False
    extra_readonly = ("check_label", *(f"{name}_shown" for name in SENT_FIELDS))
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("occurred_at", "last_seen_at"),
                    ("check_label", "status"),
                    ("count", "overflow"),
                    "reason",
                ]
            },
        ),
        (
            _("Who"),
            {"fields": [("ip", "forwarded_for_shown"), "user_agent_shown", "openid_shown"]},
        ),
        (_("Request"), {"fields": ["method", "query_shown", "body_bytes", "body_excerpt_shown"]}),
    ]

    # What the request sent is an attacker's text: invisible and bidi characters show as markers.
    forwarded_for_shown = revealed_field(SecurityEvent, "forwarded_for")
    user_agent_shown = revealed_field(SecurityEvent, "user_agent")
    openid_shown = revealed_field(SecurityEvent, "openid")
    query_shown = revealed_field(SecurityEvent, "query")
    body_excerpt_shown = revealed_field(SecurityEvent, "body_excerpt", linebreaks=True)

    @admin.display(description=CHECK, ordering="code")
    def check_label(self, event):
        return format_html('{} <span class="quiet">({})</span>', label(event.code), event.code)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Here, not in change_view: Django has read the row by now, so it is read once.
        if obj is not None:
            context["subtitle"] = self.subtitle(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @staticmethod
    def subtitle(event) -> str:
        """The detail page's heading: the check's label, the address and the local time."""
        when = timezone.localtime(event.occurred_at)
        return f"{label(event.code)} · {event.ip or '?'} · {when:%Y-%m-%d %H:%M:%S}"
