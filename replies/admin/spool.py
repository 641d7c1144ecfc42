"""Admin for spool conflicts: read-only, one row per spooled message replay would not delete.

A conflict is a message kept in the spool during a database outage that differs from a stored
message with the same dedup key or signed query; one of the two may be forged. Replay leaves
both: the stored row in the message log, the spooled file in the spool's conflicts/ folder.
This page puts them side by side for an operator to judge; resolving one is a decision for a
person with the files in hand, not a button. Staff see their accounts' conflicts
(replies.admin.scoping); a conflict of no known account only a superuser sees.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from replies.admin.display import pretty_xml
from replies.admin.readonly import ReadOnlyLogAdmin
from replies.admin.safety import OfferedLookupsOnly
from replies.admin.scoping import UNKNOWN, AccountScopedAdmin
from replies.models import Message, SpoolConflict


@admin.register(SpoolConflict)
class SpoolConflictAdmin(
    AccountScopedAdmin, ReadOnlyLogAdmin, OfferedLookupsOnly, admin.ModelAdmin
):
    unowned_rows = UNKNOWN
    list_display = ["detected_at", "kind", "dedup_key", "request_key", "stored_link", "file_name"]
    list_filter = ["kind"]
    search_fields = ["=dedup_key", "=request_key", "=file_name"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["detected_at", "kind", "file_name", ("dedup_key", "request_key")]}),
        (_("Spooled message"), {"fields": ["spooled_received_at", "spooled_xml_pretty"]}),
        (_("Stored message"), {"fields": ["stored_link", "stored_xml_pretty"]}),
    ]

    extra_readonly = ("stored_link", "spooled_xml_pretty", "stored_xml_pretty")

    @admin.display(description=_("stored message"), ordering="stored_message_id")
    def stored_link(self, conflict):
        if conflict.stored_message_id is None:
            return "—"
        url = reverse("admin:replies_message_change", args=[conflict.stored_message_id])
        return format_html('<a href="{}">#{}</a>', url, conflict.stored_message_id)

    @admin.display(description=_("spooled XML"))
    def spooled_xml_pretty(self, conflict):
        return pretty_xml(conflict.spooled_xml)

    @admin.display(description=_("stored XML"))
    def stored_xml_pretty(self, conflict):
        stored = (
            Message.objects.filter(pk=conflict.stored_message_id)
            .values_list("decrypted_xml", "raw_xml")
            .first()
        )
        if stored is None:
            return _("(no longer in the message log)")
        return pretty_xml(stored[0] or stored[1])
