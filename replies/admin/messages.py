"""Admin for the message log: read-only, filterable, searchable, exportable as CSV.

Built to stay fast with millions of rows: filters offer the fields' fixed choices (no DISTINCT
scan to build them), the list never counts the whole table, and every filter has an index behind it.
"""

import csv
import unicodedata
from datetime import datetime, timedelta
from functools import partial
from itertools import chain

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext_lazy as _

from replies.admin.conversation import (
    conversation_link,
    conversation_view,
    reply_context,
    reply_view,
)
from replies.admin.display import pretty_xml, reveal_invisible, revealed_field
from replies.admin.readonly import ReadOnlyLogAdmin
from replies.admin.safety import OfferedLookupsOnly
from replies.admin.scoping import AccountScopedAdmin, account_scope
from replies.models import Message, kind_label


class AnsweredFilter(admin.SimpleListFilter):
    title = _("answered")
    parameter_name = "answered"

    def lookups(self, request, model_admin):
        return [
            ("rule", _("by a rule")),
            ("none", _("not answered")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "rule":
            return queryset.exclude(reply_type="")
        if self.value() == "none":
            return queryset.filter(reply_type="")
        return queryset


class ReceivedFilter(admin.SimpleListFilter):
    title = _("received")
    parameter_name = "received"
    periods = {
        "1h": timedelta(hours=1),
        "24h": timedelta(days=1),
        "7d": timedelta(days=7),
        "30d": timedelta(days=30),
    }

    def lookups(self, request, model_admin):
        return [
            ("1h", _("last hour")),
            ("24h", _("last 24 hours")),
            ("7d", _("last 7 days")),
            ("30d", _("last 30 days")),
        ]

    def queryset(self, request, queryset):
        period = self.periods.get(self.value() or "")
        if period:
            return queryset.filter(received_at__gte=timezone.now() - period)
        return queryset


# The message's text as the follower sent it: shown through reveal_invisible on the detail page
# (as "<name>_shown"), and the heart of the CSV export.
SHOWN_FIELDS = (
    "openid",
    "to_user",
    "event_key",
    "msg_id",
    "content",
    "recognition",
    "media_id",
    "pic_url",
    "label",
    "title",
    "url",
)
CSV_COLUMNS = [
    "received_at",
    "created_at",
    "mode",
    "msg_type",
    "event",
    *SHOWN_FIELDS,
    "latitude",
    "longitude",
    "rule_name",
    "reply_type",
    "reply_summary",
    "handling_ms",
]


class _Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer output."""

    def write(self, value):
        return value


# What makes a spreadsheet read a cell as a formula, after NFKC (full-width ＝＋－＠ included).
FORMULA_STARTS = frozenset("=+-@")
# Spreadsheets treat a cell starting with a tab or carriage return as a formula too (OWASP).
FORMULA_CONTROLS = ("\t", "\r")
QUOTES = frozenset("\"'")


def _is_skipped(char: str) -> bool:
    """Return whether a spreadsheet may skip `char` before deciding a cell is a formula: white
    space (NBSP, U+3000 …), invisible format and control characters (zero-width, BOM, bidi),
    and quotes, straight, typographic or full-width."""
    category = unicodedata.category(char)
    return (
        char.isspace()
        or category in ("Cf", "Cc", "Pi", "Pf")
        or unicodedata.normalize("NFKC", char) in QUOTES
    )


def _reads_as_formula(text: str) -> bool:
    if text.startswith(FORMULA_CONTROLS):
        return True
    for char in text:
        if not _is_skipped(char):
            return unicodedata.normalize("NFKC", char)[:1] in FORMULA_STARTS
    return False


class _CsvRows:
    """The export's lines, read from `rows` (a queryset iterator) as the response streams.

    `start()` reads the first row in the view, so the query runs under the admin's statement
    timeout (replies.admin.timeouts), which ends when the view returns. `close()` — which the
    response calls even when nothing was read — closes the database cursor at once rather than
    whenever the iterator is garbage-collected.
    """

    def __init__(self, rows, *, header=CSV_COLUMNS):
        self.rows = rows
        self.header = header
        self.first = None

    def start(self) -> None:
        self.first = next(self.rows, None)

    def __iter__(self):
        writer = csv.writer(_Echo())
        yield "\ufeff" + writer.writerow(self.header)
        for row in chain([self.first] if self.first is not None else [], self.rows):
            yield writer.writerow([_csv_cell(value) for value in row])

    def close(self) -> None:
        self.rows.close()


def _csv_cell(value) -> str:
    """Return one CSV cell: times in local time; text with formulas neutralised, so that a
    follower's "=HYPERLINK(…)" — or " ＝HYPERLINK(…)" behind a zero-width space — stays text
    when an operator opens the file in a spreadsheet. Numbers (handling time, latitude,
    longitude) are the model's floats, not text: a negative longitude stays a number."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, str) and _reads_as_formula(value):
        return "'" + value
    return str(value)


def _shown(name: str, *, linebreaks: bool = False):
    return revealed_field(Message, name, linebreaks=linebreaks)


@admin.register(Message)
class MessageAdmin(AccountScopedAdmin, ReadOnlyLogAdmin, OfferedLookupsOnly, admin.ModelAdmin):
    list_display = [
        "received_at",
        "follower",
        "kind",
        "summary",
        "answered_by",
        "reply",
        "handling_ms",
    ]
    # msg_type and event have fixed choices (replies.models), so Django's own filter lists them
    # without a DISTINCT scan of the table.
    list_filter = ["msg_type", "event", AnsweredFilter, ReceivedFilter, "mode"]
    # The search box is handled by get_search_results (indexed lookups); this only shows it.
    search_fields = ["content"]
    search_help_text = _(
        "Text or speech containing the words, an exact follower OpenID, or an exact MsgId."
    )
    show_full_result_count = False
    # Facets would count every filter choice over the whole log (Django's "show counts" link,
    # or ?_facets= in the URL): millions of rows per request.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    change_list_template = "admin/replies/message/change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("received_at", "created_at"),
                    ("account", "openid_shown", "conversation", "to_user_shown"),
                    ("msg_type", "event", "event_key_shown"),
                    ("msg_id_shown", "mode", "handling_ms"),
                ]
            },
        ),
        (
            _("Content"),
            {
                "fields": [
                    "content_shown",
                    "recognition_shown",
                    ("media_id_shown", "pic_url_shown"),
                    ("latitude", "longitude", "label_shown"),
                    ("title_shown", "url_shown"),
                ]
            },
        ),
        (_("Reply"), {"fields": ["answered_by", "reply_type", "reply_xml_pretty"]}),
        (_("As received"), {"fields": ["raw_xml_pretty", "decrypted_xml_pretty"]}),
    ]

    extra_readonly = (
        "answered_by",
        "conversation",
        "reply",
        "raw_xml_pretty",
        "decrypted_xml_pretty",
        "reply_xml_pretty",
        *(f"{name}_shown" for name in SHOWN_FIELDS),
    )

    # Follower text (and what we answered) goes through reveal_invisible, on the list and the
    # detail: a U+202E in a text must show as a marker, not turn the page right to left.
    openid_shown = _shown("openid")
    to_user_shown = _shown("to_user")
    event_key_shown = _shown("event_key")
    msg_id_shown = _shown("msg_id")
    content_shown = _shown("content", linebreaks=True)
    recognition_shown = _shown("recognition", linebreaks=True)
    media_id_shown = _shown("media_id")
    pic_url_shown = _shown("pic_url")
    label_shown = _shown("label")
    title_shown = _shown("title")
    url_shown = _shown("url")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Here, not in change_view: Django has read the row by now, so it is read once.
        if obj is not None:
            context.update({"title": self.detail_title(obj), "subtitle": None})
            context.update(reply_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    @staticmethod
    def detail_title(message) -> str:
        """The detail page's title and heading, e.g. "消息 · 菜单点击 · 2026-12-01 14:30:00"."""
        when = timezone.localtime(message.received_at)
        kind = kind_label(message.msg_type, message.event)
        return f"{capfirst(Message._meta.verbose_name)} · {kind} · {when:%Y-%m-%d %H:%M:%S}"

    def get_search_results(self, request, queryset, search_term):
        """Search text and speech (contains), OpenID and MsgId (exact), each on an index.

        Django's default would compare UPPER(openid) and UPPER(msg_id), which no index serves;
        exact matches use the plain btree indexes, and "contains" uses the trigram indexes on
        PostgreSQL, so the OR stays a bitmap index scan at a million rows.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(content__icontains=term) | Q(recognition__icontains=term) | Q(openid=term)
        if term.isdigit():
            condition |= Q(msg_id=term)
        return queryset.filter(condition), False

    @admin.display(description=_("follower"), ordering="openid")
    def follower(self, message):
        return conversation_link(message, reveal_invisible(Truncator(message.openid).chars(14)))

    @admin.display(description=_("conversation"))
    def conversation(self, message):
        return conversation_link(message)

    @admin.display(description=_("type"), ordering="msg_type")
    def kind(self, message):
        return kind_label(message.msg_type, message.event)

    @admin.display(description=_("content"))
    def summary(self, message):
        text = (
            message.content
            or message.recognition
            or message.event_key
            or message.title
            or message.label
            or message.media_id
        )
        return reveal_invisible(Truncator(text).chars(40))

    @admin.display(description=_("answered by"), ordering="rule_name")
    def answered_by(self, message):
        name = reveal_invisible(message.rule_name)
        if message.rule_id:
            url = reverse("admin:replies_replyrule_change", args=[message.rule_id])
            return format_html('<a href="{}">{}</a>', url, name)
        return name or "—"

    @admin.display(description=Message._meta.get_field("reply_summary").verbose_name)
    def reply(self, message):
        return reveal_invisible(message.reply_summary) or self.get_empty_value_display()

    @admin.display(description=_("raw XML"))
    def raw_xml_pretty(self, message):
        return pretty_xml(message.raw_xml)

    @admin.display(description=_("decrypted XML"))
    def decrypted_xml_pretty(self, message):
        return pretty_xml(message.decrypted_xml)

    @admin.display(description=_("reply XML"))
    def reply_xml_pretty(self, message):
        return pretty_xml(message.reply_xml)

    # --- CSV export of the filtered list ------------------------------------------------

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv),
            name="replies_message_export",
        )
        conversation = path(
            "conversation/",
            self.admin_site.admin_view(partial(conversation_view, self)),
            name="replies_message_conversation",
        )
        reply = path(
            "<int:message_id>/reply/",
            self.admin_site.admin_view(partial(reply_view, self)),
            name="replies_message_reply",
        )
        return [export, conversation, reply, *super().get_urls()]

    def export_csv(self, request):
        """Stream the list as filtered and searched on screen, as CSV (UTF-8 with BOM for Excel)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_or_400(request)
        columns, header = CSV_COLUMNS, CSV_COLUMNS
        if account_scope(request).several:  # which account each row came to
            columns, header = [*CSV_COLUMNS, "account__name"], [*CSV_COLUMNS, "account"]
        rows = changelist.get_queryset(request).values_list(*columns).iterator(chunk_size=2000)
        stream = _CsvRows(rows, header=header)
        stream.start()
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="messages-{stamp}.csv"'
        return response
