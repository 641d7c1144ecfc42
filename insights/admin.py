"""The insight pages in the admin: unanswered queries, rule performance, traffic.

They hang from the `Report` proxy model: `ReportAdmin.get_urls` adds the pages (the overview
takes the changelist's place), so the app index lists them under "Insights" and nothing patches
the admin site. Every page needs a staff login and the view permission on messages; turning an
unanswered query into a draft rule is a POST that needs the add permission on rules. Every number
is of the official accounts the `account` parameter picks among those the user may see
(insights.account_choice: another account's id is a 404). The numbers come from
`insights.reports`, the charts from `insights.charts`.
"""

from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import transaction
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from insights import background_counts
from insights import reports as insights
from insights.account_choice import AccountChoice, choose_accounts
from insights.charts import bar_chart, line_chart
from insights.models import QueryCount, Report
from replies.admin.display import mark_invisible
from replies.admin.safety import OfferedLookupsOnly
from replies.admin.scoping import ACCOUNT_PARAMETER
from replies.models import ReplyRule, RuleReply, Trigger
from replies.models import kind_label as models_kind_label
from replies.rules.forms import TriggerForm

VIEW_PERMISSION = "replies.view_message"
ADD_RULE_PERMISSION = "replies.add_replyrule"
IDLE_DAYS = 30
MAX_RANGE_DAYS = 366
TOP_RULES = 15
MAX_DRAFT_KEYWORDS = 10


def kind_label(kind: str) -> str:
    """Return the label of a traffic series, e.g. "event:click" -> "menu click"."""
    msg_type, _sep, event = kind.partition(":")
    return models_kind_label(msg_type, event)


# --- the period ------------------------------------------------------------------------------


# The dates a period may span. WeChat began in 2011, so nothing older can be in the log; and the
# extremes (year 1, year 9999) overflow when a local day is turned into UTC or a day is added.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)
DATE_ATTRS = {"type": "date", "min": FIRST_DAY.isoformat(), "max": LAST_DAY.isoformat()}
DATE_VALIDATORS = [MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)]


class PeriodForm(forms.Form):
    """The period every page shows: the last 7, 30 or 90 days, or from one date to another."""

    DAYS = [(7, _("last 7 days")), (30, _("last 30 days")), (90, _("last 90 days"))]
    DEFAULT_DAYS = 30

    days = forms.TypedChoiceField(label=_("period"), choices=DAYS, coerce=int, required=False)
    start = forms.DateField(
        label=_("from"),
        required=False,
        widget=forms.DateInput(attrs=DATE_ATTRS),
        validators=DATE_VALIDATORS,
    )
    end = forms.DateField(
        label=_("to"),
        required=False,
        widget=forms.DateInput(attrs=DATE_ATTRS),
        validators=DATE_VALIDATORS,
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


# --- the views -------------------------------------------------------------------------------


@admin.register(Report)
class ReportAdmin(OfferedLookupsOnly, admin.ModelAdmin):
    """The insight pages: read-only views of the message log, for whoever may read the log."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            # The overview stands where the changelist would, so the app index links to it.
            path("", view(self.index_view), name="insights_report_changelist"),
            path("unanswered/", view(self.unanswered_view), name="insights_unanswered"),
            path(
                "unanswered/make-rule/",
                view(self.make_rule_view),
                name="insights_make_rule",
            ),
            path("rules/", view(self.rules_view), name="insights_rules"),
            path("traffic/", view(self.traffic_view), name="insights_traffic"),
        ]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(VIEW_PERMISSION)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _check(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied

    def _accounts(self, request, data=None) -> AccountChoice:
        """Return the accounts the page counts; 404 for one the user may not see."""
        return choose_accounts(request.user, (data or request.GET).get(ACCOUNT_PARAMETER))

    def _context(
        self,
        request,
        *,
        title: str,
        page: str,
        form: PeriodForm | None = None,
        choice: AccountChoice | None = None,
    ):
        account_query = choice.query if choice else ""
        period_query = "&".join(q for q in (form.query() if form else "", account_query) if q)
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "page": page,
            "opts": Report._meta,
            "period_form": form,
            "period": form.period() if form else None,
            # Links between the pages keep the period and the account.
            "period_query": period_query,
            "period_fields": [
                (name, value) for name, value in QueryDict(form.query() if form else "").items()
            ],
            "period_choices": [
                {**c, "query": "&".join(q for q in (c["query"], account_query) if q)}
                for c in (form.choices() if form else [])
            ],
            "account_choice": choice,
            # The pages read the rollups: say how fresh they are ("数据更新于 …").
            "rollups": insights.rollup_status(),
        }

    # --- index -------------------------------------------------------------------------

    def index_view(self, request):
        self._check(request)
        choice = self._accounts(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        span = {"since": period.since, "until": period.until, "accounts": choice.accounts}
        traffic = insights.traffic(**span).per_day
        follows = insights.follows_per_day(**span)
        shares = insights.answer_shares(**span)
        context = {
            **self._context(
                request, title=gettext("Insights"), page="index", form=form, choice=choice
            ),
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
        return TemplateResponse(request, "admin/insights/index.html", context)

    # --- unanswered queries ------------------------------------------------------------

    def unanswered_view(self, request):
        self._check(request)
        choice = self._accounts(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        try:
            limit = min(background_counts.MAX_ROWS, max(10, int(request.GET.get("limit", 100))))
        except ValueError:
            limit = 100
        span = {"since": period.since, "until": period.until, "accounts": choice.accounts}
        page = background_counts.unanswered_for_page(**span, limit=limit)
        report = page.report
        shares = insights.answer_shares(**span)
        changelist = reverse("admin:replies_message_changelist")
        # The message log's own filter parameters: it refuses any other lookup. Its account
        # filter exists for exactly the users this page offers a choice of accounts to.
        log_filter = {"msg_type__exact": "text"}
        if choice.shown and choice.accounts is not None and len(choice.accounts) == 1:
            log_filter[ACCOUNT_PARAMETER] = str(choice.accounts[0])
        rows = [
            {
                "group": group,
                "keyword_ok": _keyword_error(group.key) is None,
                "messages_url": f"{changelist}?{urlencode({**log_filter, 'q': group.sample})}",
            }
            for group in (report.groups if report else [])
        ]
        context = {
            **self._context(
                request,
                title=gettext("Unanswered queries"),
                page="unanswered",
                form=form,
                choice=choice,
            ),
            "report": report,
            "count": page.count,
            # The page reloads itself until the count is done (not once it has failed).
            "counting": report is None,
            "refresh": report is None and page.count.status != QueryCount.Status.FAILED,
            "refresh_seconds": background_counts.REFRESH_SECONDS,
            "reuse_minutes": background_counts.REUSE_SECONDS // 60,
            "rows": rows,
            "limit": limit,
            "max_rows": background_counts.MAX_ROWS,
            "shares": shares,
            "unanswered_share": _percent(shares.default + shares.unanswered, shares.total),
            "can_add_rule": request.user.has_perm(ADD_RULE_PERMISSION),
        }
        return TemplateResponse(request, "admin/insights/unanswered.html", context)

    def make_rule_view(self, request):
        """Turn an unanswered query into a disabled draft rule, then open it for editing."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(ADD_RULE_PERMISSION):
            raise PermissionDenied
        keyword = insights.normalize_query(request.POST.get("text", ""))
        selection = QueryDict(request.POST.get("period", ""))
        choice = self._accounts(request, selection)
        if choice.accounts == []:  # sees no account: nowhere to put a rule
            raise Http404(gettext("No such official account."))
        period_form = PeriodForm(selection)
        period_form.is_valid()
        period = period_form.period()
        back_query = "&".join(q for q in (period_form.query(), choice.query) if q)
        back = f"{reverse('admin:insights_unanswered')}?{back_query}"
        error = _keyword_error(keyword) if keyword else gettext("Enter a keyword.")
        if error:
            messages.error(
                request,
                gettext("No rule made for “%(text)s”: %(error)s")
                % {"text": mark_invisible(keyword), "error": error},
            )
            return HttpResponseRedirect(back)
        existing = (
            Trigger.objects.filter(
                kind=Trigger.Kind.KEYWORD,
                match=Trigger.Match.EXACT,
                value__iexact=keyword,
                rule__in=insights.visible_rules(choice.accounts),
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
                % {"name": mark_invisible(existing.rule.name), "keyword": mark_invisible(keyword)},
            )
            return HttpResponseRedirect(
                reverse("admin:replies_replyrule_change", args=[existing.rule_id])
            )
        # The texts as followers sent them may keep punctuation the key drops ("hello!"); rules
        # do not ignore punctuation, so each way it was written becomes an exact keyword too.
        keywords = [keyword]
        variants = insights.query_variants(
            keyword,
            since=period.since,
            until=period.until,
            limit=MAX_DRAFT_KEYWORDS,
            accounts=choice.accounts,
        )
        for variant in variants:
            if variant not in keywords and _keyword_error(variant) is None:
                keywords.append(variant)
        with transaction.atomic():
            # The name shows invisible and bidi characters as markers (⟨U+202E⟩): it is for staff,
            # who must see that this keyword is not the plain word it looks like, and a bidi
            # control in a name would reverse every list it is shown in. The trigger keeps the
            # text as followers sent it, or it would not match.
            name = gettext("Draft: %(keyword)s") % {"keyword": mark_invisible(keyword)}
            # The account the page showed; "all accounts" (superusers only) makes a rule that
            # answers on every account.
            rule = ReplyRule.objects.create(
                name=name[: ReplyRule._meta.get_field("name").max_length],
                enabled=False,
                account_id=choice.rule_account_id,
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
                content=gettext("(Write the reply to “%(keyword)s” here.)")
                % {"keyword": mark_invisible(keyword)},
            )
        messages.success(
            request,
            gettext("Draft rule created, disabled: write the reply and enable it."),
        )
        return HttpResponseRedirect(reverse("admin:replies_replyrule_change", args=[rule.pk]))

    # --- rule performance --------------------------------------------------------------

    def rules_view(self, request):
        self._check(request)
        choice = self._accounts(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        span = {"since": period.since, "until": period.until, "accounts": choice.accounts}
        hits = insights.rule_hits(**span)
        now = timezone.now()
        idle = insights.idle_rules(
            since=now - timedelta(days=IDLE_DAYS), until=now, accounts=choice.accounts
        )
        shares = insights.answer_shares(**span)
        top = hits.rules[:TOP_RULES]
        labels = [_day_label(d) for d in hits.days]
        context = {
            **self._context(
                request, title=gettext("Rule performance"), page="rules", form=form, choice=choice
            ),
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
        return TemplateResponse(request, "admin/insights/rules.html", context)

    # --- traffic -----------------------------------------------------------------------

    def traffic_view(self, request):
        self._check(request)
        choice = self._accounts(request)
        form = PeriodForm.from_request(request)
        period = form.period()
        span = {"since": period.since, "until": period.until, "accounts": choice.accounts}
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
            **self._context(
                request, title=gettext("Traffic"), page="traffic", form=form, choice=choice
            ),
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
        return TemplateResponse(request, "admin/insights/traffic.html", context)


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
