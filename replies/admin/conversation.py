"""One follower's conversation, as a chat thread: the message log read the way it happened.

Part of the message log's admin (`MessageAdmin.get_urls` adds the page), so it needs only the
view permission on messages and works with or without the insights app.
"""

from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from replies.models import Message, RuleReply, kind_label
from replies.protocol import Event, MsgType, WeChatError, parse_xml, qr_scene

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


def conversation_view(model_admin, request):
    """Show one follower's messages and our replies as a chat thread, a page at a time."""
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
        thread = _conversation(openid, form.cleaned_data)
        context.update(thread)
        base = {"openid": openid}
        if thread["older"]:
            context["older_url"] = "?" + urlencode({**base, "before": thread["older"]})
        if thread["newer"]:
            context["newer_url"] = "?" + urlencode({**base, "after": thread["newer"]})
        messages_url = reverse("admin:replies_message_changelist")
        context["messages_url"] = f"{messages_url}?{urlencode({'q': openid})}"
    return TemplateResponse(request, "admin/replies/message/conversation.html", context)


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


def _conversation(openid: str, params: dict) -> dict:
    """Return one page of `openid`'s thread, oldest first, and the cursors around it.

    Pages are cut on (received_at, id) — keyset, not OFFSET — so a page costs one range scan of
    the (openid, -received_at) index however long the thread is. `before` / `after` hold the id
    of the row the page continues from; `message` centres the page on a row (`params`: the
    ConversationForm's cleaned data).
    """
    rows = Message.objects.filter(openid=openid).defer("raw_xml", "decrypted_xml")

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
