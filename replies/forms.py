"""Validation of reply rules, triggers and replies, as operators edit them in the admin.

WeChat's own limits are enforced here (keyword length, text length, article counts) with a
clear message in the form, so an invalid rule is refused before anything is saved. Each error
carries a code, for tests and for anyone customising messages.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from replies.models import REPLY_COLUMNS, ReplyRule, RuleReply, Trigger
from replies.rule_index import InvalidPattern, compile_pattern, normalize_text

# WeChat console: a keyword is at most 30 characters.
MAX_KEYWORD_LENGTH = 30
# WeChat truncates a text message over 2048 bytes (UTF-8): a Chinese character is 3 bytes.
MAX_TEXT_BYTES = 2048
MAX_REGEX_LENGTH = 255
MAX_NEWS_ARTICLES = 8
MESSAGE_TYPES = (
    "text",
    "image",
    "voice",
    "video",
    "shortvideo",
    "location",
    "link",
    "miniprogrampage",
)


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


class TriggerForm(forms.ModelForm):
    class Meta:
        model = Trigger
        fields = ["kind", "match", "value"]

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
        elif len(value) > MAX_KEYWORD_LENGTH:
            self.add_error(
                "value",
                ValidationError(
                    _("WeChat keywords are at most %(max)d characters (this one has %(n)d).")
                    % {"max": MAX_KEYWORD_LENGTH, "n": len(value)},
                    code="too_long",
                ),
            )
        return value


class ArticlesField(forms.CharField):
    """News articles edited as text, one per line: title | url | picture URL | description."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 90})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(
                " | ".join(
                    item.get(key, "") for key in ("title", "url", "pic_url", "description")
                ).rstrip(" |")
                for item in value
            )
        return value

    def to_python(self, value):
        articles = []
        for number, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            parts = [part.strip() for part in line.split("|")] + ["", "", ""]
            title, url, pic_url, description = (
                parts[0],
                parts[1],
                parts[2],
                "|".join(parts[3:]).strip(" |"),
            )
            if not title or not url:
                raise ValidationError(
                    _("Line %(n)d: an article needs at least a title and a URL.") % {"n": number},
                    code="article",
                )
            for link in (url, pic_url):
                if link and not link.startswith(("http://", "https://")):
                    raise ValidationError(
                        _("Line %(n)d: “%(link)s” is not an http(s) URL.")
                        % {"n": number, "link": link},
                        code="article_url",
                    )
            articles.append(
                {"title": title, "url": url, "pic_url": pic_url, "description": description}
            )
        return articles


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
            "One article per line: title | URL | picture URL | description. At most 8; "
            "WeChat shows only the first when answering a text, image, voice, video, link or "
            "location message."
        ),
    )

    class Meta:
        model = RuleReply
        fields = ["position", *REPLY_COLUMNS]
        widgets = {"content": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    REQUIRED = {
        RuleReply.Type.TEXT: ("content",),
        RuleReply.Type.IMAGE: ("media_id",),
        RuleReply.Type.VOICE: ("media_id",),
        RuleReply.Type.VIDEO: ("media_id",),
        RuleReply.Type.MUSIC: ("thumb_media_id",),
        RuleReply.Type.NEWS: ("articles",),
        RuleReply.Type.TRANSFER: (),
    }

    def clean(self):
        cleaned = super().clean()
        reply_type = cleaned.get("reply_type")
        for name in self.REQUIRED.get(reply_type, ()):
            if not cleaned.get(name) and name not in self.errors:
                self.add_error(
                    name,
                    ValidationError(_("A reply of this type needs this field."), code="required"),
                )
        content = cleaned.get("content") or ""
        if reply_type == RuleReply.Type.TEXT and len(content.encode()) > MAX_TEXT_BYTES:
            self.add_error(
                "content",
                ValidationError(
                    _(
                        "WeChat allows %(max)d bytes of text "
                        "(this is %(n)d; a Chinese character is 3)."
                    )
                    % {"max": MAX_TEXT_BYTES, "n": len(content.encode())},
                    code="too_long",
                ),
            )
        if reply_type == RuleReply.Type.MUSIC and not (
            cleaned.get("music_url") or cleaned.get("hq_music_url")
        ):
            self.add_error("music_url", ValidationError(_("Enter the music URL."), code="required"))
        articles = cleaned.get("articles") or []
        if reply_type == RuleReply.Type.NEWS and len(articles) > MAX_NEWS_ARTICLES:
            self.add_error(
                "articles",
                ValidationError(
                    _("WeChat sends at most %(max)d articles (this has %(n)d).")
                    % {"max": MAX_NEWS_ARTICLES, "n": len(articles)},
                    code="too_many",
                ),
            )
        return cleaned


class AtLeastOneFormSet(BaseInlineFormSet):
    """An inline formset that refuses to leave the rule with none of its rows."""

    empty_message = _("Add at least one.")

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if not kept:
            raise ValidationError(self.empty_message, code="empty")


class TriggerFormSet(AtLeastOneFormSet):
    empty_message = _("A rule needs at least one trigger.")


class RuleReplyFormSet(AtLeastOneFormSet):
    empty_message = _("A rule needs at least one reply.")


class RuleTesterForm(forms.Form):
    """What the rule tester sends through the rules: a message, or an event with its key."""

    KINDS = [
        ("text", _("text message")),
        ("voice", _("voice message (with speech recognition)")),
        ("image", _("image message")),
        ("video", _("video message")),
        ("location", _("location message")),
        ("link", _("link message")),
        ("event", _("event")),
    ]
    EVENTS = [
        ("subscribe", _("follow (subscribe)")),
        ("scan", _("QR code scan (SCAN)")),
        ("click", _("menu click (CLICK)")),
        ("scancode_waitmsg", _("menu scan, wait for reply (scancode_waitmsg)")),
        ("unsubscribe", _("unfollow (unsubscribe)")),
        ("location", _("location report (LOCATION)")),
    ]
    msg_type = forms.ChoiceField(label=_("message"), choices=KINDS, initial="text")
    text = forms.CharField(
        label=_("text"),
        required=False,
        max_length=2000,
        help_text=_("What the follower types (or says, for voice)."),
    )
    event = forms.ChoiceField(label=_("event"), choices=EVENTS, required=False)
    event_key = forms.CharField(
        label=_("event key"),
        required=False,
        max_length=512,
        help_text=_("Menu key, or QR scene: “qrscene_123” for a follow, “123” for a scan."),
    )
