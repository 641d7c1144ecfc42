"""Admin for reply rules: inlines for triggers and replies, list editing, actions, the tester.

Scoped per account (replies.admin.scoping): staff see their accounts' rules and the rules for
every account; only a user who sees every account may change a rule for every account (others
see it read-only), and a rule's account is one of the user's.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Subquery
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from replies.admin.safety import OfferedLookupsOnly
from replies.admin.scoping import SHARED, AccountScopedAdmin, account_scope
from replies.models import Message, ReplyRule, RuleReply, Trigger
from replies.rules.conflicts import warnings_for
from replies.rules.forms import (
    MAX_TRIGGERS_PER_RULE,
    AccountRuleForm,
    RuleReplyForm,
    RuleReplyFormSet,
    RuleTesterForm,
    TriggerForm,
    TriggerFormSet,
    rule_form_for,
)
from replies.rules.ruleset import bump_ruleset_version, load_rule_specs
from replies.rules.tester import run_rule_tester


class TriggerInline(admin.TabularInline):
    model = Trigger
    form = TriggerForm
    formset = TriggerFormSet
    extra = 1
    min_num = 1
    # The cap (replies.rules.forms): the page offers no more forms, Django refuses more, and a
    # forged TOTAL_FORMS builds no more than the cap (Django's default would be cap + 1000).
    max_num = MAX_TRIGGERS_PER_RULE

    def get_formset(self, request, obj=None, **kwargs):
        kwargs.setdefault("validate_max", True)
        kwargs.setdefault("absolute_max", MAX_TRIGGERS_PER_RULE)
        return super().get_formset(request, obj, **kwargs)


class RuleReplyInline(admin.StackedInline):
    model = RuleReply
    form = RuleReplyForm
    formset = RuleReplyFormSet
    extra = 0
    min_num = 1
    # One line per field (or pair shown together), so that replies/static/replies/admin.css can
    # hide the fields the chosen reply type does not have, in CSS alone (works without
    # JavaScript; a browser without :has() shows them all, as before).
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("reply_type", "position"),
                    "content",
                    "media_id",
                    ("title", "description"),
                    ("music_url", "hq_music_url"),
                    "thumb_media_id",
                    "articles",
                    "kf_account",
                ],
                "description": _(
                    "Only the fields of the chosen reply type are shown: text for text; media "
                    "id for image, voice and video; music URL and thumbnail for music; "
                    "articles for news."
                ),
            },
        ),
    ]


def _hits_subquery(aggregate, scope):
    # A rule for every account answers on accounts the user may not see: count only theirs.
    return Subquery(
        scope.filter(Message.objects.filter(rule=OuterRef("pk")))
        .order_by()
        .values("rule")
        .annotate(value=aggregate)
        .values("value")[:1]
    )


# Triggers the rule list shows per rule; the rest are counted.
SUMMARY_TRIGGERS = 10


@admin.register(ReplyRule)
class ReplyRuleAdmin(AccountScopedAdmin, OfferedLookupsOnly, admin.ModelAdmin):
    form = AccountRuleForm
    unowned_rows = SHARED
    inlines = [TriggerInline, RuleReplyInline]

    class Media:
        # Hides the reply fields the chosen type does not have; styles the article rows.
        css = {"all": ["replies/admin.css"]}

    list_display = [
        "name",
        "enabled",
        "priority",
        "triggers_summary",
        "replies_summary",
        "schedule_summary",
        "hits",
        "last_hit",
    ]
    list_display_links = ["name"]
    list_editable = ["enabled", "priority"]
    list_filter = [
        "enabled",
        "triggers__kind",
        "triggers__match",
        "replies__reply_type",
        "reply_mode",
    ]
    search_fields = ["name", "triggers__value", "replies__content", "replies__title"]
    actions = ["enable_rules", "disable_rules", "duplicate_rules"]
    fieldsets = [
        (None, {"fields": ["account", "name", ("enabled", "priority"), "reply_mode"]}),
        (
            _("Schedule"),
            {
                "fields": [("starts_at", "ends_at"), ("daily_from", "daily_until")],
                "description": _("Leave empty to answer at all times."),
            },
        ),
    ]
    change_list_template = "admin/replies/replyrule/change_list.html"

    def get_queryset(self, request):
        scope = account_scope(request)
        return (
            super()
            .get_queryset(request)
            .prefetch_related("triggers", "replies")
            .annotate(
                hit_count=_hits_subquery(Count("*"), scope),
                last_hit_at=_hits_subquery(Max("received_at"), scope),
            )
        )

    # --- a rule for every account: only a user who sees every account changes it -----------

    def may_edit(self, request, rule) -> bool:
        """Return whether the user may change or delete `rule` as far as accounts go."""
        return rule is None or rule.account_id is not None or self.may_see_every_account(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.may_edit(request, obj)

    def get_deleted_objects(self, objs, request):
        """Refuse "delete selected" as a whole when it holds a rule the user may not delete."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if not all(self.may_edit(request, rule) for rule in objs):
            perms_needed = {*perms_needed, gettext("rules for every account")}
        return deleted, counts, perms_needed, protected

    def editable(self, request, queryset):
        """Return the rules of `queryset` the user may change (an action's selection)."""
        if self.may_see_every_account(request):
            return queryset
        return queryset.filter(account__isnull=False)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = rule_form_for(
            accounts=account_scope(request).account_choices(),
            every_account=self.may_see_every_account(request),
        )
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        """The list's enabled/priority boxes: read-only on rules the user may not change."""
        formset = super().get_changelist_formset(request, **kwargs)
        admin_ = self

        class ScopedFormSet(formset):
            def add_fields(self, form, index):
                super().add_fields(form, index)
                if form.instance.pk and not admin_.may_edit(request, form.instance):
                    for name in admin_.list_editable:
                        form.fields[name].disabled = True

        return ScopedFormSet

    def save_model(self, request, obj, form, change):
        if not self.may_edit(request, obj):
            raise PermissionDenied  # the form offers no such choice: a forged request
        super().save_model(request, obj, form, change)

    @admin.display(description=_("triggers"))
    def triggers_summary(self, rule):
        triggers = rule.triggers.all()  # prefetched
        shown = format_html_join(
            mark_safe("<br>"), "{}", ((str(t),) for t in triggers[:SUMMARY_TRIGGERS])
        )
        hidden = len(triggers) - SUMMARY_TRIGGERS
        if hidden > 0:
            more = ngettext("… and %(count)s more", "… and %(count)s more", hidden) % {
                "count": number_format(hidden, force_grouping=True)
            }
            return format_html("{}<br>{}", shown, more)
        return shown

    @admin.display(description=_("replies"))
    def replies_summary(self, rule):
        return format_html_join(
            mark_safe("<br>"), "{}", ((reply.summary(),) for reply in rule.replies.all())
        )

    @admin.display(description=_("schedule"))
    def schedule_summary(self, rule):
        parts = []
        if rule.starts_at or rule.ends_at:
            start = (
                timezone.localtime(rule.starts_at).strftime("%Y-%m-%d %H:%M")
                if rule.starts_at
                else "…"
            )
            end = (
                timezone.localtime(rule.ends_at).strftime("%Y-%m-%d %H:%M") if rule.ends_at else "…"
            )
            parts.append(f"{start} – {end}")
        if rule.daily_from or rule.daily_until:
            start = rule.daily_from.strftime("%H:%M") if rule.daily_from else "00:00"
            end = rule.daily_until.strftime("%H:%M") if rule.daily_until else "24:00"
            parts.append(f"{start}–{end}")
        return "; ".join(parts) or "—"

    @admin.display(description=_("hits"), ordering="hit_count")
    def hits(self, rule):
        return rule.hit_count or 0

    @admin.display(description=_("last hit"), ordering="last_hit_at")
    def last_hit(self, rule):
        return rule.last_hit_at

    # --- actions -------------------------------------------------------------------------

    @admin.action(description=_("Enable selected rules"), permissions=["change"])
    def enable_rules(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable selected rules"), permissions=["change"])
    def disable_rules(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled):
        queryset = self.editable(request, queryset)
        with transaction.atomic():
            # Only the selected rules' accounts rebuild (None: an every-account rule, all do).
            account_ids = set(queryset.values_list("account_id", flat=True))
            count = queryset.update(enabled=enabled, updated_at=timezone.now())
            bump_ruleset_version(account_ids=account_ids)  # update() sends no signals
        self.message_user(
            request,
            ngettext("%(count)d rule updated.", "%(count)d rules updated.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Duplicate selected rules (disabled copies)"), permissions=["add"])
    def duplicate_rules(self, request, queryset):
        # A copy of a rule for every account would be one too: only for who may make those.
        queryset = self.editable(request, queryset)
        with transaction.atomic():
            for rule in queryset.prefetch_related("triggers", "replies"):
                triggers, replies = list(rule.triggers.all()), list(rule.replies.all())
                rule.pk = None
                rule._state.adding = True
                rule.name = (_("Copy of %(name)s") % {"name": rule.name})[:60]
                rule.enabled = False
                rule.save()
                for row in [*triggers, *replies]:
                    row.pk = None
                    row._state.adding = True
                    row.rule = rule
                Trigger.objects.bulk_create(triggers)
                RuleReply.objects.bulk_create(replies)
        self.message_user(
            request,
            _("Copies made, disabled: edit and enable them."),
            messages.SUCCESS,
        )

    # --- a rule past the trigger cap ------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            count = obj.triggers.count()
            if count > MAX_TRIGGERS_PER_RULE:
                self.message_user(
                    request,
                    ngettext(
                        "This rule has %(count)s trigger, more than the %(max)s a rule may have: "
                        "only the first %(max)s are shown. Saving keeps the others; delete "
                        "triggers to bring the rule under the limit.",
                        "This rule has %(count)s triggers, more than the %(max)s a rule may have: "
                        "only the first %(max)s are shown. Saving keeps the others; delete "
                        "triggers to bring the rule under the limit.",
                        count,
                    )
                    % {"count": count, "max": MAX_TRIGGERS_PER_RULE},
                    messages.WARNING,
                )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- warnings after saving -----------------------------------------------------------

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        rule = form.instance
        # The rules that answer where this one does: its account's and the every-account ones
        # (every account's, for an every-account rule); warnings_for weighs them.
        specs = load_rule_specs(account_id=rule.account_id)
        for warning in warnings_for(rule.pk, specs, now=timezone.localtime()):
            self.message_user(request, warning, messages.WARNING)

    # --- the rule tester -----------------------------------------------------------------

    def get_urls(self):
        tester = path(
            "tester/",
            self.admin_site.admin_view(self.tester_view),
            name="replies_replyrule_tester",
        )
        return [tester, *super().get_urls()]

    def tester_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Only the user's accounts: another account's id is an invalid choice, never a result.
        form = RuleTesterForm(
            request.GET or None, accounts=account_scope(request).account_choices()
        )
        result = None
        if form.is_valid():
            result = run_rule_tester(
                msg_type=form.cleaned_data["msg_type"],
                text=form.cleaned_data["text"],
                event=form.cleaned_data["event"],
                event_key=form.cleaned_data["event_key"],
                account_id=form.cleaned_data["account"].pk,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Rule tester"),
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/replies/replyrule/tester.html", context)
