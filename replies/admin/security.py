"""Admin for security events: read-only, filterable by check and address."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from replies.admin.safety import OfferedLookupsOnly
from replies.models import SecurityEvent


@admin.register(SecurityEvent)
class SecurityEventAdmin(OfferedLookupsOnly, admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "code",
        "count",
        "status",
        "ip",
        "forwarded_for",
        "openid",
        "reason",
    ]
    list_filter = ["code", "status"]
    search_fields = ["=ip", "forwarded_for", "=openid"]
    show_full_result_count = False
    readonly_fields = [field.name for field in SecurityEvent._meta.fields]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("occurred_at", "last_seen_at"),
                    ("code", "status"),
                    ("count", "overflow"),
                    "reason",
                ]
            },
        ),
        (_("Who"), {"fields": [("ip", "forwarded_for"), "user_agent", "openid"]}),
        (_("Request"), {"fields": ["method", "query", "body_bytes", "body_excerpt"]}),
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
