"""One follower's conversation, as a chat thread: the message log read the way it happened.

Part of the message log's admin (`MessageAdmin.get_urls` adds the page), so it needs only the
view permission on messages and works with or without the insights app. What we sent through
the customer-service API (OutgoingMessage: staff replies, "reply all" follow-ups) is woven into
the thread by time. Staff with the send permission (the 客服 group) also get the reply form,
which `reply_view` handles: orchestration only, the sending is replies.outbound's.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from replies.admin.reply_form import FollowerReplyForm, new_token
from replies.admin.scoping import account_scope
from replies.models import Message, OutgoingMessage, RuleReply, kind_label
from replies.outbound.sending import WindowClosed, send_now
from replies.outbound.window import WINDOW_HOURS, reply_window
from replies.protocol import Event, MsgType, WeChatError, parse_xml, qr_scene

SEND_PERMISSION = "replies.send_outgoingmessage"

CONVERSATION_PAGE = 200
MAX_ROW_ID = 2**63 - 1  # a bigint primary key


def _http_url(url: str) -> str:
    """Return `url` when it is an http(s) link, else "" (no javascript: from a follower)."""
    return url if url.lower().startswith(("http://", "https://")) else ""


class ConversationForm(forms.Form):
    """The conversation's parameters: a follower, and the row a page starts from or centres on.

    Every value is checked before it reaches the database: an OpenID as long as the log stores,
    no NUL (PostgreSQL refuses it); row ids that are positive 64-bit integers.
    """

    openid = forms.CharField(
        label=_("Follower OpenID"),
        required=False,
        max_length=Message._meta.get_field("openid").max_length,
    )
    before = forms.IntegerField(
        label=_("before message"), required=False, min_value=1, max_value=MAX_ROW_ID
    )
    after = forms.IntegerField(
        label=_("after message"), required=False, min_value=1, max_value=MAX_ROW_ID
    )
    message = forms.IntegerField(
        label=_("message"), required=False, min_value=1, max_value=MAX_ROW_ID
    )


def conversation_view(model_admin, request, *, reply_form=None, status=200):
    """Show one follower's messages and our replies as a chat thread, a page at a time.

    `reply_form` is a bound reply form that did not validate (`reply_view` shows it again with
    its errors, under `status`).
    """
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = ConversationForm(request.GET)
    valid = form.is_valid()
    openid = form.cleaned_data.get("openid", "") if valid else ""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Conversation"),
        "opts": model_admin.model._meta,
        "form": form,
        "openid": openid,
    }
    if not valid:
        # The form shows what is wrong; 400 says so to whatever follows the link.
        return TemplateResponse(
            request, "admin/replies/message/conversation.html", context, status=400
        )
    if openid:
        # Only the user's accounts: another account's follower is "no message from this OpenID".
        scope = account_scope(request)
        received = scope.filter(Message.objects.filter(openid=openid))
        sent = scope.filter(OutgoingMessage.objects.filter(openid=openid))
        thread = _conversation(received, sent, form.cleaned_data)
        context.update(thread)
        base = {"openid": openid}
        if thread["older"]:
            context["older_url"] = "?" + urlencode({**base, "before": thread["older"]})
        if thread["newer"]:
            context["newer_url"] = "?" + urlencode({**base, "after": thread["newer"]})
        messages_url = reverse("admin:replies_message_changelist")
        context["messages_url"] = f"{messages_url}?{urlencode({'q': openid})}"
        latest = received.order_by("-received_at", "-pk").first()
        if latest is not None:
            context.update(reply_context(request, latest, form=reply_form))
            if scope.several:  # whose follower this is, for staff of several accounts
                context["account_name"] = latest.account.name
    return TemplateResponse(
        request, "admin/replies/message/conversation.html", context, status=status
    )


# --- answering the follower -----------------------------------------------------------------


def can_send(request) -> bool:
    return request.user.has_perm(SEND_PERMISSION)


def reply_context(request, message: Message, *, form=None) -> dict:
    """Return the reply form's context for answering `message`'s follower: the window (how
    long is left) and, for staff who may send, the form with a fresh one-time token."""
    window = reply_window(openid=message.openid, account_id=message.account_id)
    context = {
        "reply_to": message,
        "reply_window": window,
        "reply_window_open": window.is_open(),
        "reply_remaining": _remaining_text(window.remaining()),
        "reply_window_hours": WINDOW_HOURS,
        "can_send": can_send(request),
    }
    if context["can_send"]:
        context["reply_form"] = form or FollowerReplyForm(initial={"token": new_token()})
        context["reply_url"] = reverse("admin:replies_message_reply", args=[message.pk])
    return context


def _remaining_text(remaining) -> str:
    minutes = int(remaining.total_seconds() // 60)
    return gettext("%(hours)d h %(minutes)d min") % {
        "hours": minutes // 60,
        "minutes": minutes % 60,
    }


def reply_view(model_admin, request, message_id: int):
    """Send the reply form's message to the follower of message `message_id`, then go back.

    POST only, for staff with the send permission (others: 403). A form with errors is shown
    again on the conversation page (400); a closed window is refused before any call; the
    result (sent, or why not, in WeChat's words) is a message on the page it came from.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not (model_admin.has_view_permission(request) and can_send(request)):
        raise PermissionDenied
    # The user's accounts only: a follower of another account is a 404, as if never seen.
    visible = account_scope(request).filter(Message.objects.defer("raw_xml", "decrypted_xml"))
    message = get_object_or_404(visible, pk=message_id)
    form = FollowerReplyForm(request.POST)
    back = _back_url(request, message)
    if not form.is_valid():
        request.GET = request.GET.copy()
        request.GET.update({"openid": message.openid, "message": str(message.pk)})
        return conversation_view(model_admin, request, reply_form=form, status=400)
    try:
        result = send_now(
            reply=form.cleaned_data["reply"],
            in_reply_to=message,
            user=request.user,
            token=form.cleaned_data["token"],
        )
    except WindowClosed:
        messages.error(request, _window_closed_text())
        return HttpResponseRedirect(back)
    _report(request, result.row, repeated=result.repeated)
    return HttpResponseRedirect(back)


def _window_closed_text() -> str:
    return gettext(
        "Not sent: WeChat lets an account answer only within %(hours)s hours of the follower's "
        "last message, and that window is closed. Wait until the follower writes again."
    ) % {"hours": WINDOW_HOURS}


def _report(request, row: OutgoingMessage, *, repeated: bool) -> None:
    if repeated:
        messages.warning(
            request,
            gettext("This form was already submitted; nothing was sent again. It is: %(status)s.")
            % {"status": row.get_status_display()},
        )
    elif row.status == OutgoingMessage.Status.SENT:
        messages.success(request, gettext("Sent to the follower."))
    else:
        messages.error(request, failure_text(row))


def failure_text(row: OutgoingMessage) -> str:
    """Return why `row` was not sent, in words: WeChat's reason and its errcode and errmsg."""
    text = gettext("Not sent: %(reason)s") % {"reason": row.reason or row.get_status_display()}
    if row.errcode is not None:
        text += " " + gettext("(WeChat: errcode %(errcode)s, %(errmsg)s)") % {
            "errcode": row.errcode,
            "errmsg": row.errmsg,
        }
    elif row.errmsg:
        text += f" ({row.errmsg})"
    return text


def _back_url(request, message: Message) -> str:
    """Return where to go after sending: the page the form was on, else the conversation."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    url = reverse("admin:replies_message_conversation")
    return f"{url}?{urlencode({'openid': message.openid})}#reply"


def _event_note(message: Message) -> str:
    key = message.event_key
    match message.event:
        case Event.SUBSCRIBE:
            scene = qr_scene(message.event, key)
            if scene:
                return gettext("Followed, by scanning QR scene %(scene)s") % {"scene": scene}
            return gettext("Followed")
        case Event.UNSUBSCRIBE:
            return gettext("Unfollowed")
        case Event.CLICK:
            return gettext("Menu click: %(key)s") % {"key": key}
        case Event.VIEW:
            return gettext("Opened a menu link: %(url)s") % {"url": key}
        case Event.SCAN:
            return gettext("Scanned QR code %(key)s") % {"key": key}
        case Event.LOCATION:
            return gettext("Reported location %(lat)s, %(lon)s") % {
                "lat": message.latitude,
                "lon": message.longitude,
            }
    return gettext("Event %(event)s %(key)s") % {"event": message.event, "key": key}


def _reply_text(message: Message) -> str:
    """Return the whole text of a text reply (the summary is cut at 200 characters)."""
    if message.reply_type == RuleReply.Type.TEXT and message.reply_xml:
        try:
            content = parse_xml(message.reply_xml.encode()).get("Content", "")
        except WeChatError:
            content = ""
        if isinstance(content, str) and content:
            return content
    return message.reply_summary


def _reply_kind(reply_type: str) -> str:
    try:
        return str(RuleReply.Type(reply_type).label)
    except ValueError:
        return reply_type


def _bubble(message: Message) -> dict:
    """Return what the conversation shows of one row: the follower's side and our reply."""
    local = timezone.localtime(message.received_at)
    item = {
        "message": message,
        "time": local,
        "order": (0, message.pk),
        "is_event": message.msg_type == MsgType.EVENT,
        "kind": kind_label(message.msg_type, message.event),
        "text": "",
        "link": "",
        "reply": _reply_text(message) if message.reply_type else "",
        "reply_kind": _reply_kind(message.reply_type),
    }
    match message.msg_type:
        case MsgType.EVENT:
            item["text"] = _event_note(message)
        case MsgType.TEXT:
            item["text"] = message.content
        case MsgType.VOICE:
            item["text"] = message.recognition or gettext("(no speech recognition)")
        case MsgType.IMAGE:
            item["text"] = gettext("[image]")
            item["link"] = _http_url(message.pic_url)
        case MsgType.LOCATION:
            item["text"] = f"{message.label} ({message.latitude}, {message.longitude})"
        case MsgType.LINK:
            item["text"] = message.title or message.url
            item["link"] = _http_url(message.url)
        case _:
            item["text"] = f"[{item['kind']}]"
    return item


def _outgoing(sent, lower, upper) -> list[OutgoingMessage]:
    """Return what we sent (`sent`: the follower's outgoing rows) from `lower` (inclusive) to
    `upper` (exclusive)."""
    rows = sent.select_related("sent_by")
    if lower is not None:
        rows = rows.filter(created_at__gte=lower)
    if upper is not None:
        rows = rows.filter(created_at__lt=upper)
    return list(rows.order_by("created_at", "id")[: CONVERSATION_PAGE * 2])


def _outgoing_text(row: OutgoingMessage) -> str:
    """Return the whole text of a text message (the summary is cut), else the summary."""
    body = row.payload.get("text") if isinstance(row.payload, dict) else None
    if isinstance(body, dict) and isinstance(body.get("content"), str):
        return body["content"]
    return row.summary


def _outgoing_bubble(row: OutgoingMessage) -> dict:
    """Return what the conversation shows of one outgoing message: text, who, and its fate."""
    failed = row.status in (OutgoingMessage.Status.FAILED, OutgoingMessage.Status.UNCERTAIN)
    return {
        "outgoing": row,
        "time": timezone.localtime(row.created_at),
        "order": (1, row.pk),
        "text": _outgoing_text(row),
        "kind": row.get_kind_display(),
        "by": str(row.sent_by) if row.sent_by_id else row.rule_name,
        "status": row.get_status_display(),
        "status_class": row.status,
        "problem": failure_text(row) if failed else "",
    }


def _conversation(received, sent, params: dict) -> dict:
    """Return one page of a follower's thread, oldest first, and the cursors around it.

    `received` and `sent` are the follower's messages and outgoing rows the user may see.

    Pages are cut on (received_at, id) — keyset, not OFFSET — so a page costs one range scan of
    the (openid, -received_at) index however long the thread is. `before` / `after` hold the id
    of the row the page continues from; `message` centres the page on a row (`params`: the
    ConversationForm's cleaned data).
    """
    rows = received.defer("raw_xml", "decrypted_xml")

    def row_of(name):
        pk = params.get(name)
        if pk is None:
            return None
        return get_object_or_404(rows.only("pk", "received_at"), pk=pk)

    def older(anchor, *, inclusive=False):
        same_time = {"pk__lte" if inclusive else "pk__lt": anchor.pk}
        earlier = Q(received_at__lt=anchor.received_at) | Q(
            received_at=anchor.received_at, **same_time
        )
        return rows.filter(earlier).order_by("-received_at", "-pk")

    def newer(anchor):
        later = Q(received_at__gt=anchor.received_at) | Q(
            received_at=anchor.received_at, pk__gt=anchor.pk
        )
        return rows.filter(later).order_by("received_at", "pk")

    before, after, focus = row_of("before"), row_of("after"), row_of("message")
    size = CONVERSATION_PAGE
    if after is not None:
        page = list(newer(after)[: size + 1])
        has_newer, has_older = len(page) > size, True
        page = page[:size]
    elif focus is not None:
        half = size // 2
        earlier = list(older(focus, inclusive=True)[: half + 1])
        later = list(newer(focus)[: half + 1])
        has_older, has_newer = len(earlier) > half, len(later) > half
        page = earlier[:half][::-1] + later[:half]
    else:
        query = older(before) if before is not None else rows.order_by("-received_at", "-pk")
        page = list(query[: size + 1])
        has_older, has_newer = len(page) > size, before is not None
        page = page[:size][::-1]
    if not page and not rows.exists():
        raise Http404(gettext("No message from this OpenID."))
    items = [_bubble(message) for message in page]
    if page:
        lower = page[0].received_at if has_older else None
        upper = None
        if has_newer:  # up to the next page's first message, which shows what follows it
            upper = newer(page[-1]).values_list("received_at", flat=True).first()
        outgoing = _outgoing(sent, lower, upper)
        answered = {row.in_reply_to_id for row in outgoing}
        for item in items:  # answered from the log: not "no reply" any more
            item["answered_later"] = item["message"].pk in answered
        items += [_outgoing_bubble(row) for row in outgoing]
        items.sort(key=lambda item: (item["time"], item["order"]))
    previous_day = None
    for item in items:
        day = item["time"].date()
        item["new_day"] = day != previous_day and date_format(day, "DATE_FORMAT")
        previous_day = day
    return {
        "items": items,
        "focus": focus.pk if focus else None,
        "older": page[0].pk if page and has_older else None,
        "newer": page[-1].pk if page and has_newer else None,
        "count": rows.count(),
        "first_seen": rows.order_by("received_at").values_list("received_at", flat=True).first(),
        "rule_url": reverse("admin:replies_replyrule_changelist"),
    }


def conversation_link(message: Message, text: str | None = None) -> str:
    """Return a link to `message` in its follower's conversation, for the message admin."""
    url = reverse("admin:replies_message_conversation")
    query = urlencode({"openid": message.openid, "message": message.pk})
    return format_html(
        '<a href="{}?{}#m{}" title="{}">{}</a>',
        url,
        query,
        message.pk,
        gettext("Open the conversation"),
        text or gettext("Open the conversation"),
    )
