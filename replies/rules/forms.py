"""Validation of reply rules, triggers and replies, as operators edit them in the admin.

WeChat's own limits are enforced here (keyword length, text length, article counts) with a
clear message in the form, so an invalid rule is refused before anything is saved. Each error
carries a code, for tests and for anyone customising messages.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy

from accounts.models import Account
from replies.models import (
    REPLY_COLUMNS,
    EventType,
    MessageType,
    ReplyRule,
    RuleReply,
    Trigger,
    reply_from_columns,
)
from replies.protocol import ARTICLE_FIELDS, check_reply
from replies.protocol.vocabulary import MAX_KEYWORD_CHARS, MAX_NEWS_ARTICLES
from replies.rules.index import InvalidPattern, compile_pattern, normalize_text

MAX_REGEX_LENGTH = 255
# Triggers one rule may have. Our limit, not WeChat's (its console allows 10 keywords a rule):
# the admin edits a rule's triggers as one form each, and a rule with 10,000 of them once took
# a worker down when opened. A few hundred is plenty for every real rule.
MAX_TRIGGERS_PER_RULE = 200


def _trigger_cap_text() -> str:
    # The same words as TriggerFormSet's error, so the catalogue holds them once.
    return ngettext(
        "A rule has at most %(num)d trigger.",
        "A rule has at most %(num)d triggers.",
        MAX_TRIGGERS_PER_RULE,
    ) % {"num": MAX_TRIGGERS_PER_RULE}


# What a "message of a type" trigger can name: every message type but events.
MESSAGE_TYPES = tuple(kind for kind in MessageType.values if kind != MessageType.EVENT)


class ReplyRuleForm(forms.ModelForm):
    class Meta:
        model = ReplyRule
        fields = [
            "name",
            "enabled",
            "priority",
            "reply_mode",
            "starts_at",
            "ends_at",
            "daily_from",
            "daily_until",
        ]

    def clean(self):
        cleaned = super().clean()
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            raise ValidationError(
                {"ends_at": _("The end must come after the start.")}, code="schedule_order"
            )
        daily_from, daily_until = cleaned.get("daily_from"), cleaned.get("daily_until")
        if daily_from and daily_until and daily_from == daily_until:
            raise ValidationError(
                {"daily_until": _("The daily hours start and end at the same time.")},
                code="schedule_empty",
            )
        return cleaned


class AccountRuleForm(ReplyRuleForm):
    """The admin's rule form: the rule's fields and the account it answers on.

    The choices are the accounts the staff user sees; leaving it empty ("every account") is for
    a user who sees every account only, anyone else must pick one of theirs. The admin makes
    the form per request with `rule_form_for`. (The JSON import and export keep to
    ReplyRuleForm's fields: a file's rules are placed in an account by whoever imports it.)
    """

    accounts = Account.objects.none()
    every_account = False

    class Meta(ReplyRuleForm.Meta):
        fields = ["account", *ReplyRuleForm.Meta.fields]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("account")
        if field is None:  # shown read-only (a rule the user may look at, not change)
            return
        field.queryset = self.accounts
        field.required = not self.every_account
        if self.every_account:
            field.empty_label = _("every account")
        else:
            field.help_text = _("The account whose followers the rule answers.")
            field.error_messages["required"] = _(
                "Choose the account the rule answers on: only a superuser may make a rule for "
                "every account."
            )
            if not self.instance.pk and len(self.accounts) == 1:
                field.initial = self.accounts[0].pk


def rule_form_for(*, accounts, every_account: bool) -> type[AccountRuleForm]:
    """Return the rule form for a staff user who sees `accounts` (every one: `every_account`)."""
    return type(
        "AccountRuleForm",
        (AccountRuleForm,),
        {"accounts": accounts, "every_account": every_account, "__module__": __name__},
    )


class TriggerForm(forms.ModelForm):
    class Meta:
        model = Trigger
        fields = ["kind", "match", "value"]
        help_texts = {"kind": lazy(_trigger_cap_text, str)()}

    def clean(self):
        cleaned = super().clean()
        kind, match = cleaned.get("kind"), cleaned.get("match") or ""
        value = (cleaned.get("value") or "").strip()
        if kind == Trigger.Kind.KEYWORD:
            value = self._clean_keyword(match, value)
        else:
            match = ""
            if kind == Trigger.Kind.CLICK and not value:
                self.add_error("value", ValidationError(_("Enter the menu key."), code="required"))
            elif kind == Trigger.Kind.MSG_TYPE and value not in MESSAGE_TYPES:
                self.add_error(
                    "value",
                    ValidationError(
                        _("Enter one of: %(types)s.") % {"types": ", ".join(MESSAGE_TYPES)},
                        code="msg_type",
                    ),
                )
            elif kind == Trigger.Kind.DEFAULT:
                value = ""
        cleaned["match"], cleaned["value"] = match, value
        return cleaned

    def _clean_keyword(self, match: str, value: str) -> str:
        if not match:
            self.add_error("match", ValidationError(_("Choose how to match."), code="required"))
        if not value:
            self.add_error("value", ValidationError(_("Enter a keyword."), code="required"))
        elif match == Trigger.Match.REGEX:
            if len(value) > MAX_REGEX_LENGTH:
                self.add_error(
                    "value",
                    ValidationError(
                        _("A pattern is at most %(max)d characters.") % {"max": MAX_REGEX_LENGTH},
                        code="too_long",
                    ),
                )
            else:
                try:
                    compile_pattern(value)
                except InvalidPattern as error:
                    self.add_error(
                        "value",
                        ValidationError(
                            _("This pattern cannot be used: %(reason)s") % {"reason": error},
                            code="regex",
                        ),
                    )
        elif not normalize_text(value):
            self.add_error("value", ValidationError(_("Enter a keyword."), code="required"))
        elif len(value) > MAX_KEYWORD_CHARS:
            self.add_error(
                "value",
                ValidationError(
                    _("WeChat keywords are at most %(max)d characters (this one has %(n)d).")
                    % {"max": MAX_KEYWORD_CHARS, "n": len(value)},
                    code="too_long",
                ),
            )
        return value


class ArticleRowsWidget(forms.Widget):
    """News articles as rows of inputs (title, URL, picture URL, description), no JavaScript.

    WeChat's eight rows are always offered; a row left empty is no article. Rows are read back
    from `<name>-<row>-<field>` up to twice that, so a form posting more is refused with the
    limit's message rather than silently cut.
    """

    template_name = "admin/replies/widgets/article_rows.html"
    READ_LIMIT = MAX_NEWS_ARTICLES * 2

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        articles = [dict(item) for item in value or [] if isinstance(item, dict)]
        rows = articles + [{}] * max(0, MAX_NEWS_ARTICLES - len(articles))
        context["widget"]["rows"] = [
            {
                "number": number,
                "cells": [
                    {
                        "name": f"{name}-{number - 1}-{key}",
                        "id": f"{attrs.get('id', name)}-{number - 1}-{key}",
                        "key": key,
                        "label": label,
                        "value": row.get(key, ""),
                    }
                    for key, label in ARTICLE_LABELS
                ],
            }
            for number, row in enumerate(rows, start=1)
        ]
        context["widget"]["labels"] = [label for _key, label in ARTICLE_LABELS]
        return context

    def value_from_datadict(self, data, files, name):
        articles = []
        for row in range(self.READ_LIMIT):
            article = {
                key: (data.get(f"{name}-{row}-{key}") or "").strip() for key in ARTICLE_FIELDS
            }
            if any(article.values()):
                articles.append(article)
        return articles

    def value_omitted_from_data(self, data, files, name):
        return not any(key.startswith(f"{name}-") for key in data)


ARTICLE_LABELS = (
    ("title", _("title")),
    ("url", _("URL")),
    ("pic_url", _("picture URL")),
    ("description", _("description")),
)


class ArticlesField(forms.Field):
    """News articles edited as rows; the value is a list of {title, description, pic_url, url}."""

    widget = ArticleRowsWidget

    def to_python(self, value):
        return [dict(item) for item in value or []]

    def has_changed(self, initial, data):
        return (initial or []) != (data or [])


class RuleReplyForm(forms.ModelForm):
    music_url = forms.URLField(
        label=_("music URL"), max_length=1024, required=False, assume_scheme="https"
    )
    hq_music_url = forms.URLField(
        label=_("high-quality music URL"), max_length=1024, required=False, assume_scheme="https"
    )
    articles = ArticlesField(
        label=_("articles"),
        required=False,
        help_text=_(
            "One article per row: a title and a link at least. At most 8; WeChat shows only "
            "the first when answering a text, image, voice, video, link or location message."
        ),
    )

    class Meta:
        model = RuleReply
        fields = ["position", *REPLY_COLUMNS]
        widgets = {"content": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    # How the admin words each problem check_reply can find (its English is for logs).
    PROBLEM_MESSAGES = {
        "required": _("A reply of this type needs this field."),
        "too_long": _(
            "WeChat allows %(max)d bytes of text (this is %(n)d; a Chinese character is 3)."
        ),
        "too_many": _("WeChat sends at most %(max)d articles (this has %(n)d)."),
        "article": _("Article %(n)d needs at least a title and a URL."),
        "article_url": _("Article %(n)d: “%(link)s” is not an http(s) URL."),
        "url": _("“%(link)s” is not an http(s) URL."),
    }

    def clean(self):
        cleaned = super().clean()
        if self.errors or not cleaned.get("reply_type"):
            return cleaned
        columns = {name: cleaned.get(name) or "" for name in REPLY_COLUMNS}
        columns["articles"] = cleaned.get("articles") or []
        for problem in check_reply(reply_from_columns(columns)):
            message = self.PROBLEM_MESSAGES.get(problem.code)
            text = message % problem.values if message else problem.message
            self.add_error(problem.field, ValidationError(text, code=problem.code))
        return cleaned


class AtLeastOneFormSet(BaseInlineFormSet):
    """An inline formset that refuses to leave the rule with none of its rows."""

    empty_message = _("Add at least one.")

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if not self.kept_forms() and not self.rows_not_shown():
            raise ValidationError(self.empty_message, code="empty")

    def kept_forms(self) -> list:
        """Return the forms that will be saved: filled in and not marked for deletion."""
        return [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]

    def rows_not_shown(self) -> int:
        """Return how many of the rule's rows in the database the formset leaves out."""
        return 0


class TriggerFormSet(AtLeastOneFormSet):
    """A rule's triggers: at most MAX_TRIGGERS_PER_RULE.

    The admin's inline sets max_num and validate_max to the cap, so Django refuses more forms
    (with the message below) and builds no more than a bounded number from a forged total. A
    rule already past the cap in the database (from before the cap) shows its first
    MAX_TRIGGERS_PER_RULE triggers only, so that its page opens; saving it keeps the others, and
    it may shrink but not grow.
    """

    empty_message = _("A rule needs at least one trigger.")
    max_rows = MAX_TRIGGERS_PER_RULE
    default_error_messages = {
        **BaseInlineFormSet.default_error_messages,
        "too_many_forms": ngettext_lazy(
            "A rule has at most %(num)d trigger.", "A rule has at most %(num)d triggers.", "num"
        ),
    }

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            queryset = super().get_queryset()
            self.rows_in_database = queryset.count() if self.instance.pk else 0
            if self.rows_in_database > self.max_rows:
                self._queryset = queryset[: self.max_rows]
        return self._queryset

    def rows_not_shown(self) -> int:
        self.get_queryset()
        return max(0, self.rows_in_database - self.max_rows)

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        after = self.rows_not_shown() + len(self.kept_forms())
        if after > self.max_rows and after > self.rows_in_database:
            raise ValidationError(
                self.error_messages["too_many_forms"] % {"num": self.max_rows},
                code="too_many_forms",
            )


class RuleReplyFormSet(AtLeastOneFormSet):
    empty_message = _("A rule needs at least one reply.")


class RuleTesterForm(forms.Form):
    """What the rule tester sends through the rules: any message type, or any event with its key,
    to one of the staff user's accounts (`accounts`; the first when the query names none).

    The choices are the message log's (replies.models), so every type and event the endpoint
    stores can be tried; the tester builds the message exactly as WeChat would send it.
    """

    KINDS = MessageType.choices
    EVENTS = EventType.choices
    account = forms.ModelChoiceField(
        label=_("official account"),
        queryset=Account.objects.none(),
        empty_label=None,
        help_text=_("The rules of this account and the rules for every account answer."),
        error_messages={
            "invalid_choice": _("Choose one of your official accounts."),
            "required": _("You see no official account: a superuser can add you to one."),
        },
    )
    msg_type = forms.ChoiceField(label=_("message"), choices=KINDS, initial=MessageType.TEXT)
    text = forms.CharField(
        label=_("text"),
        required=False,
        max_length=2000,
        help_text=_(
            "What the follower types, or says for voice (as speech recognition writes it, "
            "punctuation included); the place of a location, the title of a link."
        ),
    )
    event = forms.ChoiceField(label=_("event"), choices=EVENTS, required=False)
    event_key = forms.CharField(
        label=_("event key"),
        required=False,
        max_length=512,
        help_text=_("Menu key, or QR scene: “qrscene_123” for a follow, “123” for a scan."),
    )

    def __init__(self, data=None, *, accounts=None, **kwargs):
        accounts = Account.objects.none() if accounts is None else accounts
        first = accounts.first() if data is not None and not data.get("account") else None
        if first is not None:
            data = data.copy()
            data["account"] = str(first.pk)
        super().__init__(data, **kwargs)
        self.fields["account"].queryset = accounts
