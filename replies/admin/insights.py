"""Insights in the admin: unanswered queries, rule performance, traffic, one follower's thread.

Importing this module registers the pages on the default admin site: their URLs go in front of
the site's own (the site's `get_urls` is wrapped), and an "Insights" entry joins the app's model
list on the admin index and in the sidebar. Every page needs a staff login (`admin_view`) and the
view permission on messages; turning an unanswered query into a draft rule is a POST that needs
the add permission on rules. The numbers come from `replies.insights`, the charts from
`replies.charts`.
"""

from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from replies import insights
from replies.charts import bar_chart, line_chart
from replies.forms import TriggerForm
from replies.models import Message, ReplyRule, RuleReply, Trigger
from replies.protocol import WeChatError, parse_xml

VIEW_PERMISSION = "replies.view_message"
ADD_RULE_PERMISSION = "replies.add_replyrule"
IDLE_DAYS = 30
MAX_RANGE_DAYS = 366
CONVERSATION_PAGE = 200
TOP_RULES = 15
MAX_DRAFT_KEYWORDS = 10

# Labels of the series: message types, and events as "event:<name>".
KIND_LABELS = {
    "text": _("text"),
    "image": _("image"),
    "voice": _("voice"),
    "video": _("video"),
    "shortvideo": _("short video"),
    "location": _("location"),
    "link": _("link"),
    "miniprogrampage": _("mini program card"),
    "event:subscribe": _("follow"),
    "event:unsubscribe": _("unfollow"),
    "event:scan": _("QR code scan"),
    "event:click": _("menu click"),
    "event:view": _("menu link"),
    "event:location": _("location report"),
}


def kind_label(kind: str) -> str:
    """Return the label of a traffic series, e.g. "event:click" -> "menu click"."""
    if kind in KIND_LABELS:
        return str(KIND_LABELS[kind])
    if kind.startswith("event:"):
        return gettext("event %(name)s") % {"name": kind.removeprefix("event:")}
    return kind


# --- the period ------------------------------------------------------------------------------


class PeriodForm(forms.Form):
    """The period every page shows: the last 7, 30 or 90 days, or from one date to another."""

    DAYS = [(7, _("last 7 days")), (30, _("last 30 days")), (90, _("last 90 days"))]
    DEFAULT_DAYS = 30

    days = forms.TypedChoiceField(label=_("period"), choices=DAYS, coerce=int, required=False)
    start = forms.DateField(
        label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start or end:
            start = start or end
            end = end or timezone.localdate()
            if end < start:
                raise forms.ValidationError(
                    _("The end date comes before the start date."), code="period_order"
                )
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise forms.ValidationError(
                    _("Choose at most %(days)d days.") % {"days": MAX_RANGE_DAYS},
                    code="period_too_long",
                )
            cleaned["start"], cleaned["end"] = start, end
        return cleaned

    @classmethod
    def from_request(cls, request) -> "PeriodForm":
        """Return the bound form; when invalid it shows its errors and the default period."""
        form = cls(request.GET)
        form.is_valid()
        return form

    def period(self) -> insights.Period:
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("start"):
            return insights.Period.between(data["start"], data["end"])
        return insights.Period.last_days(data.get("days") or self.DEFAULT_DAYS)

    def choices(self) -> list[dict]:
        """Return the quick choices (last 7, 30, 90 days) as links, the current one marked."""
        data = self.cleaned_data if self.is_valid() else {}
        current = None if data.get("start") else data.get("days") or self.DEFAULT_DAYS
        return [
            {"label": label, "query": urlencode({"days": days}), "current": days == current}
            for days, label in self.DAYS
        ]

    def query(self) -> str:
        """Return the period as a query string, for links between the pages."""
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("start"):
            return urlencode({"start": data["start"].isoformat(), "end": data["end"].isoformat()})
        return urlencode({"days": data.get("days") or self.DEFAULT_DAYS})


def _day_label(day: date) -> str:
    return day.strftime("%m-%d")


def _percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


def _http_url(url: str) -> str:
    """Return `url` when it is an http(s) link, else "" (no javascript: from a follower)."""
    return url if url.lower().startswith(("http://", "https://")) else ""


# --- the views -------------------------------------------------------------------------------


class InsightsAdmin:
    """The insight pages of one admin site."""

    def __init__(self, admin_site: admin.AdminSite):
        self.admin_site = admin_site

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("replies/insights/", view(self.index_view), name="replies_insights"),
            path(
                "replies/insights/unanswered/",
                view(self.unanswered_view),
                name="replies_insights_unanswered",
            ),
            path(
                "replies/insights/unanswered/make-rule/",
                view(self.make_rule_view),
                name="replies_insights_make_rule",
            ),
            path("replies/insights/rules/", view(self.rules_view), name="replies_insights_rules"),
            path(
                "replies/insights/traffic/",
                view(self.traffic_view),
                name="replies_insights_traffic",
            ),
            path(
                "replies/insights/conversation/",
                view(self.conversation_view),
                name="replies_insights_conversation",
            ),
        ]

    def app_list_entry(self, request) -> dict | None:
        """Return the "Insights" row of the app's model list, for users who may see it."""
        if not request.user.has_perm(VIEW_PERMISSION):
            return None
        return {
            "model": None,
            "name": gettext("Insights"),
            "object_name": "Insights",
            "perms": {"view": True},
            "admin_url": reverse("admin:replies_insights", current_app=self.admin_site.name),
            "add_url": None,
            "view_only": True,
        }

    def _check(self, request):
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied

    def _context(self, request, *, title: str, page: str, form: PeriodForm | None = None):
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "page": page,
            "opts": Message._meta,
            "period_form": form,
            "period": form.period() if form else None,
            "period_query": form.query() if form else "",
            "period_choices": form.choices() if form else [],
        }

    # --- index -------------------------------------------------------------------------

    def index_view(self, request):
        self._check(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        span = {"since": period.since, "until": period.until}
        traffic = insights.traffic(**span).per_day
        follows = insights.follows_per_day(**span)
        shares = insights.answer_shares(**span)
        context = {
            **self._context(request, title=gettext("Insights"), page="index", form=form),
            "total": sum(traffic.totals),
            "follows": sum(follows.follows),
            "unfollows": sum(follows.unfollows),
            "net": sum(follows.net),
            "shares": _share_rows(shares),
            "shares_total": shares.total,
            "chart": line_chart(
                {
                    gettext("messages and events"): [
                        (_day_label(d), n)
                        for d, n in zip(traffic.buckets, traffic.totals, strict=True)
                    ]
                },
                title=gettext("Messages and events per day"),
                y_label=gettext("count"),
            ),
        }
        return TemplateResponse(request, "admin/replies/insights/index.html", context)

    # --- unanswered queries ------------------------------------------------------------

    def unanswered_view(self, request):
        self._check(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        try:
            limit = min(500, max(10, int(request.GET.get("limit", 100))))
        except ValueError:
            limit = 100
        report = insights.unanswered_queries(since=period.since, until=period.until, limit=limit)
        shares = insights.answer_shares(since=period.since, until=period.until)
        changelist = reverse("admin:replies_message_changelist")
        rows = [
            {
                "group": group,
                "keyword_ok": _keyword_error(group.key) is None,
                "messages_url": f"{changelist}?{urlencode({'type': 'text', 'q': group.sample})}",
            }
            for group in report.groups
        ]
        context = {
            **self._context(
                request, title=gettext("Unanswered queries"), page="unanswered", form=form
            ),
            "report": report,
            "rows": rows,
            "limit": limit,
            "shares": shares,
            "unanswered_share": _percent(shares.default + shares.unanswered, shares.total),
            "can_add_rule": request.user.has_perm(ADD_RULE_PERMISSION),
        }
        return TemplateResponse(request, "admin/replies/insights/unanswered.html", context)

    def make_rule_view(self, request):
        """Turn an unanswered query into a disabled draft rule, then open it for editing."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(ADD_RULE_PERMISSION):
            raise PermissionDenied
        keyword = insights.normalize_query(request.POST.get("text", ""))
        period_form = PeriodForm(QueryDict(request.POST.get("period", "")))
        period_form.is_valid()
        period = period_form.period()
        back = f"{reverse('admin:replies_insights_unanswered')}?{period_form.query()}"
        error = _keyword_error(keyword) if keyword else gettext("Enter a keyword.")
        if error:
            messages.error(
                request,
                gettext("No rule made for “%(text)s”: %(error)s")
                % {"text": keyword, "error": error},
            )
            return HttpResponseRedirect(back)
        existing = (
            Trigger.objects.filter(
                kind=Trigger.Kind.KEYWORD, match=Trigger.Match.EXACT, value__iexact=keyword
            )
            .select_related("rule")
            .first()
        )
        if existing is not None:
            messages.warning(
                request,
                gettext(
                    "Rule “%(name)s” already has the keyword “%(keyword)s”: check its schedule and "
                    "whether it is enabled."
                )
                % {"name": existing.rule.name, "keyword": keyword},
            )
            return HttpResponseRedirect(
                reverse("admin:replies_replyrule_change", args=[existing.rule_id])
            )
        # The texts as followers sent them may keep punctuation the key drops ("hello!"); rules
        # do not ignore punctuation, so each way it was written becomes an exact keyword too.
        keywords = [keyword]
        variants = insights.query_variants(
            keyword, since=period.since, until=period.until, limit=MAX_DRAFT_KEYWORDS
        )
        for variant in variants:
            if variant not in keywords and _keyword_error(variant) is None:
                keywords.append(variant)
        with transaction.atomic():
            rule = ReplyRule.objects.create(
                name=(gettext("Draft: %(keyword)s") % {"keyword": keyword})[:60], enabled=False
            )
            Trigger.objects.bulk_create(
                [
                    Trigger(
                        rule=rule, kind=Trigger.Kind.KEYWORD, match=Trigger.Match.EXACT, value=k
                    )
                    for k in keywords
                ]
            )
            RuleReply.objects.create(
                rule=rule,
                reply_type=RuleReply.Type.TEXT,
                content=gettext("(Write the reply to “%(keyword)s” here.)") % {"keyword": keyword},
            )
        messages.success(
            request,
            gettext("Draft rule created, disabled: write the reply and enable it."),
        )
        return HttpResponseRedirect(reverse("admin:replies_replyrule_change", args=[rule.pk]))

    # --- rule performance --------------------------------------------------------------

    def rules_view(self, request):
        self._check(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        hits = insights.rule_hits(since=period.since, until=period.until)
        now = timezone.now()
        idle = insights.idle_rules(since=now - timedelta(days=IDLE_DAYS), until=now)
        shares = insights.answer_shares(since=period.since, until=period.until)
        top = hits.rules[:TOP_RULES]
        labels = [_day_label(d) for d in hits.days]
        context = {
            **self._context(request, title=gettext("Rule performance"), page="rules", form=form),
            "hits": hits,
            "rule_rows": [
                (
                    row,
                    row.total / len(hits.days),
                    *max(zip(hits.days, row.per_day, strict=True), key=lambda d: d[1]),
                )
                for row in hits.rules
            ],
            "idle": idle,
            "idle_days": IDLE_DAYS,
            "shares": _share_rows(shares),
            "shares_total": shares.total,
            "top_chart": bar_chart(
                {gettext("hits"): [(row.name, row.total) for row in top]},
                title=gettext("Most used rules"),
                y_label=gettext("hits in the period"),
                horizontal=True,
            ),
            "daily_chart": line_chart(
                {row.name: list(zip(labels, row.per_day, strict=True)) for row in hits.rules[:6]},
                title=gettext("Hits per day of the six most used rules"),
                y_label=gettext("hits"),
            ),
            "shares_chart": bar_chart(
                {
                    gettext("number of messages"): [
                        (label, count) for label, count, _share in _share_rows(shares)
                    ]
                },
                title=gettext("Who answered the messages"),
                y_label=gettext("number of messages"),
                horizontal=True,
            ),
        }
        return TemplateResponse(request, "admin/replies/insights/rules.html", context)

    # --- traffic -----------------------------------------------------------------------

    def traffic_view(self, request):
        self._check(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        span = {"since": period.since, "until": period.until}
        report = insights.traffic(**span)
        per_day, per_hour = report.per_day, report.per_hour
        followers = insights.followers_per_day(**span)
        follows = insights.follows_per_day(**span)
        handling = insights.handling_percentiles(**span)
        labels = [_day_label(d) for d in per_day.buckets]
        hours = [f"{h:02d}" for h in per_hour.buckets]
        p50, p99 = handling.percentiles[0.5], handling.percentiles[0.99]
        table = [
            {
                "day": day,
                "total": per_day.totals[n],
                "active": followers.active[n],
                "new": followers.new[n],
                "returning": followers.returning[n],
                "follows": follows.follows[n],
                "unfollows": follows.unfollows[n],
                "net": follows.net[n],
                "p50": p50[n],
                "p99": p99[n],
            }
            for n, day in enumerate(per_day.buckets)
        ]
        context = {
            **self._context(request, title=gettext("Traffic"), page="traffic", form=form),
            "table": table,
            "series_totals": [
                (kind_label(kind), sum(counts)) for kind, counts in per_day.series.items()
            ],
            "day_chart": line_chart(
                {
                    kind_label(kind): list(zip(labels, counts, strict=True))
                    for kind, counts in per_day.series.items()
                },
                title=gettext("Messages and events per day, by type"),
                y_label=gettext("count"),
            ),
            "hour_chart": bar_chart(
                {
                    kind_label(kind): list(zip(hours, counts, strict=True))
                    for kind, counts in per_hour.series.items()
                },
                title=gettext("Messages and events by hour of the day"),
                y_label=gettext("count"),
                stacked=True,
            ),
            "follow_chart": bar_chart(
                {
                    gettext("follows"): list(zip(labels, follows.follows, strict=True)),
                    gettext("unfollows"): [
                        (d, -n) for d, n in zip(labels, follows.unfollows, strict=True)
                    ],
                },
                title=gettext("Follows and unfollows per day"),
                y_label=gettext("followers"),
                stacked=True,
            ),
            "followers_chart": bar_chart(
                {
                    gettext("new followers"): list(zip(labels, followers.new, strict=True)),
                    gettext("returning followers"): list(
                        zip(labels, followers.returning, strict=True)
                    ),
                },
                title=gettext("New and returning followers per day"),
                y_label=gettext("followers"),
                stacked=True,
            ),
            "handling_chart": line_chart(
                {
                    gettext("p50"): list(zip(labels, p50, strict=True)),
                    gettext("p99"): list(zip(labels, p99, strict=True)),
                },
                title=gettext("Handling time per day"),
                y_label=gettext("milliseconds"),
            ),
        }
        return TemplateResponse(request, "admin/replies/insights/traffic.html", context)

    # --- a follower's conversation -----------------------------------------------------

    def conversation_view(self, request):
        self._check(request)
        openid = request.GET.get("openid", "").strip()
        context = self._context(request, title=gettext("Conversation"), page="conversation")
        context["openid"] = openid
        if openid:
            thread = _conversation(openid, request.GET)
            context.update(thread)
            base = {"openid": openid}
            if thread["older"]:
                context["older_url"] = "?" + urlencode({**base, "before": thread["older"]})
            if thread["newer"]:
                context["newer_url"] = "?" + urlencode({**base, "after": thread["newer"]})
            messages_url = reverse("admin:replies_message_changelist")
            context["messages_url"] = f"{messages_url}?{urlencode({'q': openid})}"
        return TemplateResponse(request, "admin/replies/insights/conversation.html", context)


# --- helpers of the views ------------------------------------------------------------------------


def _share_rows(shares: insights.AnswerShares) -> list[tuple[str, int, str]]:
    rows = [
        (gettext("a keyword rule"), shares.keyword),
        (gettext("the default rule"), shares.default),
        (gettext("another rule"), shares.other),
        (gettext("nothing"), shares.unanswered),
    ]
    return [(label, count, _percent(count, shares.total)) for label, count in rows]


def _keyword_error(keyword: str) -> str | None:
    """Return why `keyword` cannot be an exact keyword trigger, or None when it can."""
    form = TriggerForm(data={"kind": Trigger.Kind.KEYWORD, "match": "exact", "value": keyword})
    if form.is_valid():
        return None
    return " ".join(error for errors in form.errors.values() for error in errors)


def _event_note(message: Message) -> str:
    key = message.event_key
    match message.event:
        case "subscribe":
            scene = key.removeprefix("qrscene_") if key.startswith("qrscene_") else ""
            if scene:
                return gettext("Followed, by scanning QR scene %(scene)s") % {"scene": scene}
            return gettext("Followed")
        case "unsubscribe":
            return gettext("Unfollowed")
        case "click":
            return gettext("Menu click: %(key)s") % {"key": key}
        case "view":
            return gettext("Opened a menu link: %(url)s") % {"url": key}
        case "scan":
            return gettext("Scanned QR code %(key)s") % {"key": key}
        case "location":
            return gettext("Reported location %(lat)s, %(lon)s") % {
                "lat": message.latitude,
                "lon": message.longitude,
            }
    return gettext("Event %(event)s %(key)s") % {"event": message.event, "key": key}


def _reply_text(message: Message) -> str:
    """Return the whole text of a text reply (the summary is cut at 200 characters)."""
    if message.reply_type == "text" and message.reply_xml:
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
        "is_event": message.msg_type == insights.EVENT,
        "kind": kind_label(insights.kind_of(message.msg_type, message.event)),
        "text": "",
        "link": "",
        "reply": _reply_text(message) if message.reply_type else "",
        "reply_kind": _reply_kind(message.reply_type),
    }
    match message.msg_type:
        case insights.EVENT:
            item["text"] = _event_note(message)
        case "text":
            item["text"] = message.content
        case "voice":
            item["text"] = message.recognition or gettext("(no speech recognition)")
        case "image":
            item["text"] = gettext("[image]")
            item["link"] = _http_url(message.pic_url)
        case "location":
            item["text"] = f"{message.label} ({message.latitude}, {message.longitude})"
        case "link":
            item["text"] = message.title or message.url
            item["link"] = _http_url(message.url)
        case _:
            item["text"] = f"[{item['kind']}]"
    return item


def _conversation(openid: str, params) -> dict:
    """Return one page of `openid`'s thread, oldest first, and the cursors around it.

    Pages are cut on (received_at, id) — keyset, not OFFSET — so a page costs one range scan of
    the (openid, -received_at) index however long the thread is. `before` / `after` hold the id
    of the row the page continues from; `message` centres the page on a row.
    """
    rows = Message.objects.filter(openid=openid).defer("raw_xml", "decrypted_xml")

    def row_of(name):
        try:
            pk = int(params.get(name, ""))
        except ValueError:
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
    url = reverse("admin:replies_insights_conversation")
    query = urlencode({"openid": message.openid, "message": message.pk})
    return format_html(
        '<a href="{}?{}#m{}" title="{}">{}</a>',
        url,
        query,
        message.pk,
        gettext("Open the conversation"),
        text or gettext("Open the conversation"),
    )


# --- registration ---------------------------------------------------------------------------------


def register(admin_site: admin.AdminSite = admin.site) -> InsightsAdmin:
    """Add the insight pages to `admin_site` (once): its URLs and its app list entry."""
    existing = getattr(admin_site, "_replies_insights", None)
    if existing is not None:
        return existing
    views = InsightsAdmin(admin_site)
    site_get_urls = admin_site.get_urls
    site_get_app_list = admin_site.get_app_list

    def get_urls():
        return views.get_urls() + site_get_urls()

    def get_app_list(request, app_label=None):
        app_list = site_get_app_list(request, app_label)
        entry = views.app_list_entry(request)
        for app in app_list:
            if app["app_label"] == "replies" and entry:
                app["models"].append(entry)
        return app_list

    admin_site.get_urls = get_urls
    admin_site.get_app_list = get_app_list
    admin_site._replies_insights = views
    return views


register()
