"""Admin for security events: read-only, filterable by check and address.

A check is shown by its translated label (replies.admin.event_labels); the stored code and the
protocol's English reason stay on the page as details, for logs and for searching the code.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from replies.admin.event_labels import label, recorded_codes
from replies.admin.readonly import ReadOnlyLogAdmin
from replies.admin.safety import OfferedLookupsOnly
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


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyLogAdmin, OfferedLookupsOnly, admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "check_label",
        "count",
        "status",
        "ip",
        "forwarded_for",
        "openid",
        "reason",
    ]
    list_filter = [CheckFilter, "status"]
    search_fields = ["=ip", "forwarded_for", "=openid"]
    show_full_result_count = False
    extra_readonly = ("check_label",)
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
        (_("Who"), {"fields": [("ip", "forwarded_for"), "user_agent", "openid"]}),
        (_("Request"), {"fields": ["method", "query", "body_bytes", "body_excerpt"]}),
    ]

    @admin.display(description=CHECK, ordering="code")
    def check_label(self, event):
        return format_html('{} <span class="quiet">({})</span>', label(event.code), event.code)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id))
        if event is not None:
            extra_context = {**(extra_context or {}), "subtitle": self.subtitle(event)}
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def subtitle(event) -> str:
        """The detail page's heading: the check's label, the address and the local time."""
        when = timezone.localtime(event.occurred_at)
        return f"{label(event.code)} · {event.ip or '?'} · {when:%Y-%m-%d %H:%M:%S}"
