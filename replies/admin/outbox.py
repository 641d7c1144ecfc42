"""The outbox in the admin: every customer-service message we sent or mean to send, read-only.

Staff replies and "reply all" follow-ups alike, newest first, filtered by status (waiting,
sending, sent, failed, uncertain) and type. Nothing here changes a message; the one action,
"resend", puts failed or uncertain rows back in the outbox on purpose, for staff with the send
permission (the 客服 group): an uncertain row may have reached the follower already. Staff see
(and resend) only their accounts' rows (replies.admin.scoping): the action's selection is taken
from the scoped list, so another account's id selects nothing.

django-tasks-db's own admin of its task rows is taken off the site: those rows are the worker's
bookkeeping (a task says only "deliver this follower's outbox"), in English, and this page is
where operators see what was sent.
"""

from django.contrib import admin, messages
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_tasks_db.models import DBTaskResult

from replies.admin.conversation import SEND_PERMISSION, conversation_link
from replies.admin.display import reveal_invisible
from replies.admin.readonly import ReadOnlyLogAdmin
from replies.admin.safety import OfferedLookupsOnly
from replies.admin.scoping import AccountScopedAdmin
from replies.models import OutgoingMessage
from replies.outbound.outbox import resend

if admin.site.is_registered(DBTaskResult):
    admin.site.unregister(DBTaskResult)


@admin.register(OutgoingMessage)
class OutgoingMessageAdmin(
    AccountScopedAdmin, ReadOnlyLogAdmin, OfferedLookupsOnly, admin.ModelAdmin
):
    list_display = [
        "created_at",
        "follower",
        "kind",
        "short_summary",
        "status",
        "attempts",
        "sender",
        "errcode",
        "short_reason",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["openid"]
    search_help_text = _("An exact follower OpenID.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    list_select_related = ["sent_by"]
    actions = ["resend_selected"]
    extra_readonly = ("follower",)

    def get_search_results(self, request, queryset, search_term):
        """An exact OpenID (the outbox's follower index), never a scan of every payload."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(openid=term), False

    def has_send_permission(self, request) -> bool:
        return request.user.has_perm(SEND_PERMISSION)

    @admin.display(description=_("follower"), ordering="openid")
    def follower(self, row):
        if row.in_reply_to_id:
            return conversation_link(
                row.in_reply_to, reveal_invisible(Truncator(row.openid).chars(14))
            )
        return reveal_invisible(row.openid)

    @admin.display(description=_("summary"))
    def short_summary(self, row):
        return reveal_invisible(Truncator(row.summary).chars(40))

    @admin.display(description=_("sent by"))
    def sender(self, row):
        if row.sent_by_id:
            return str(row.sent_by)
        return reveal_invisible(row.rule_name) or "—"

    @admin.display(description=_("reason"))
    def short_reason(self, row):
        return Truncator(row.reason).chars(60) or "—"

    @admin.action(
        description=_("Resend the selected failed or uncertain messages"), permissions=["send"]
    )
    def resend_selected(self, request, queryset):
        count = resend(queryset)
        skipped = queryset.count() - count
        self.message_user(
            request,
            ngettext(
                "%(count)d message is back in the outbox; the worker sends it in order.",
                "%(count)d messages are back in the outbox; the worker sends them in order.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected message was neither failed nor uncertain: not resent.",
                    "%(count)d selected messages were neither failed nor uncertain: not resent.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
