"""The form staff answer a follower with: text, image/voice/video by media id, or one article.

It builds the protocol's reply value and checks it with the one validator (`check_reply`, worded
as the rule form words it), so what staff may send is what a rule may send. `token` is the
form's one-time token: rendered once per page, it becomes the outgoing row's unique
idempotency key, so a double click or a resubmitted page sends once.
"""

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from replies.models import OutgoingMessage, RuleReply
from replies.protocol import (
    Article,
    ImageReply,
    NewsReply,
    Reply,
    TextReply,
    VideoReply,
    VoiceReply,
    check_reply,
)
from replies.protocol.vocabulary import MAX_TEXT_REPLY_BYTES
from replies.rules.forms import RuleReplyForm

KINDS = [
    (kind.value, kind.label)
    for kind in OutgoingMessage.Kind
    if kind not in (OutgoingMessage.Kind.MUSIC,)
]
_MEDIA_ID_LENGTH = RuleReply._meta.get_field("media_id").max_length


def new_token() -> str:
    """Return a fresh one-time token for a rendered form."""
    return uuid.uuid4().hex


class FollowerReplyForm(forms.Form):
    kind = forms.ChoiceField(label=_("type"), choices=KINDS, initial=OutgoingMessage.Kind.TEXT)
    content = forms.CharField(
        label=_("text"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=format_lazy(
            _("Line breaks and links are kept; at most {bytes} bytes."), bytes=MAX_TEXT_REPLY_BYTES
        ),
    )
    media_id = forms.CharField(
        label=_("media id"),
        required=False,
        max_length=_MEDIA_ID_LENGTH,
        help_text=_("For an image, voice or video: the MediaId of permanent material."),
    )
    title = forms.CharField(label=_("title"), required=False, max_length=128)
    description = forms.CharField(label=_("description"), required=False, max_length=512)
    url = forms.CharField(
        label=_("article URL"),
        required=False,
        max_length=1024,
        help_text=_("For an article: where it opens, e.g. https://example.com/notice."),
    )
    pic_url = forms.CharField(
        label=_("picture URL"),
        required=False,
        max_length=1024,
        help_text=_("For an article, optional: its cover picture."),
    )
    token = forms.CharField(
        widget=forms.HiddenInput,
        validators=[RegexValidator(r"^[0-9a-f]{32}$", _("The form is out of date; reload it."))],
    )

    # check_reply names an article's problems "articles": they are about these fields here.
    _ARTICLE_FIELD = "url"

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        reply = self._reply(cleaned)
        for problem in check_reply(reply):
            message = RuleReplyForm.PROBLEM_MESSAGES.get(problem.code)
            text = message % problem.values if message else problem.message
            field = self._ARTICLE_FIELD if problem.field == "articles" else problem.field
            if field not in self.fields:
                field = None
            self.add_error(field, ValidationError(text, code=problem.code))
        cleaned["reply"] = reply
        return cleaned

    @staticmethod
    def _reply(cleaned: dict) -> Reply:
        text = {name: (cleaned.get(name) or "").strip() for name in ("media_id", "title")}
        match cleaned["kind"]:
            case OutgoingMessage.Kind.IMAGE:
                return ImageReply(text["media_id"])
            case OutgoingMessage.Kind.VOICE:
                return VoiceReply(text["media_id"])
            case OutgoingMessage.Kind.VIDEO:
                return VideoReply(
                    text["media_id"], title=text["title"], description=cleaned["description"]
                )
            case OutgoingMessage.Kind.NEWS:
                article = Article(
                    title=text["title"],
                    description=cleaned["description"],
                    url=cleaned["url"].strip(),
                    pic_url=cleaned["pic_url"].strip(),
                )
                return NewsReply((article,))
        return TextReply(cleaned.get("content") or "")
