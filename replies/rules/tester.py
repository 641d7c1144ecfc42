"""The admin's rule tester: run a made-up message through the endpoint's own choice of reply.

The message is built the way WeChat sends it (the `wxsend` simulator's builders), parsed by the
endpoint's parser and answered by `explain_choice`, which shares every step with the endpoint's
`choose_reply`. So what the tester shows is what a follower would get, except that nothing is
stored and no counter moves. For a "reply all" rule it also shows the follow-ups the outbox would
send after the reply, as the customer-service API's bodies.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.environment import environment_account_id
from replies import simulator
from replies.models import Trigger
from replies.outbound.payloads import custom_message, is_sendable
from replies.protocol import IncomingMessage, MsgType, Reply, parse_message, summarize_reply
from replies.rules.choice import Explanation, explain_choice, render_choice
from replies.rules.index import Query, RuleMatch

TESTER_OPENID = "o_rule_tester"
TESTER_ACCOUNT = "gh_rule_tester"
_SAMPLE_MSG_ID = 1


@dataclass(frozen=True)
class TesterResult:
    """The endpoint's decision (`explained`) and the reply XML it would send."""

    explained: Explanation
    reply_xml: str

    @property
    def query(self) -> Query:
        return self.explained.query

    @property
    def winner(self) -> RuleMatch | None:
        return self.explained.winner

    @property
    def reply(self) -> Reply | None:
        return self.explained.choice.reply if self.explained.choice else None

    @property
    def ranked(self) -> list[tuple[RuleMatch, bool]]:
        return self.explained.ranked

    @property
    def winner_trigger(self) -> str:
        return describe(self.winner) if self.winner else ""

    @property
    def followups(self) -> list[dict]:
        """The "reply all" follow-ups, in order: summary, and the body sent (None: a reply
        that cannot be a customer-service message, left out by the outbox)."""
        choice = self.explained.choice
        if choice is None:
            return []
        return [
            {
                "summary": summarize_reply(reply),
                "body": json.dumps(
                    custom_message(reply, openid=TESTER_OPENID), ensure_ascii=False, indent=2
                )
                if is_sendable(reply)
                else None,
            }
            for reply in choice.followups
        ]

    @property
    def rows(self) -> list[tuple[RuleMatch, bool, str]]:
        """Every matching rule in winning order, whether it is active, and its trigger in words."""
        return [(match, active, describe(match)) for match, active in self.ranked]


def describe(match: RuleMatch) -> str:
    trigger = match.trigger
    return Trigger.describe(kind=trigger.kind, match=trigger.match, value=trigger.value)


def _fields(msg_type: str, *, text: str, event: str, event_key: str):
    """Return (MsgType, fields) as WeChat sends them; sample values where the tester asks none."""
    msg_id = _SAMPLE_MSG_ID
    match msg_type:
        case MsgType.EVENT:
            return simulator.event_fields(event=event, key=event_key)
        case MsgType.TEXT:
            return simulator.text_fields(content=text, msg_id=msg_id)
        case MsgType.VOICE:
            return simulator.voice_fields(
                media_id="tester_voice", audio_format="amr", recognition=text, msg_id=msg_id
            )
        case MsgType.IMAGE:
            return simulator.image_fields(
                media_id="tester_image", pic_url="https://example.com/p.jpg", msg_id=msg_id
            )
        case MsgType.VIDEO | MsgType.SHORTVIDEO:
            return simulator.video_fields(
                short=msg_type == MsgType.SHORTVIDEO,
                media_id="tester_video",
                thumb_media_id="tester_thumb",
                msg_id=msg_id,
            )
        case MsgType.LOCATION:
            return simulator.location_fields(
                x=simulator.SAMPLE_LATITUDE,
                y=simulator.SAMPLE_LONGITUDE,
                scale="15",
                label=text,
                msg_id=msg_id,
            )
        case MsgType.LINK:
            return simulator.link_fields(
                title=text, description="", url="https://example.com/", msg_id=msg_id
            )
        case MsgType.MINIPROGRAMPAGE:
            return simulator.miniprogrampage_fields(
                app_id="wx_tester",
                title=text,
                page_path="pages/index/index",
                thumb_url="https://example.com/t.jpg",
                thumb_media_id="tester_thumb",
                msg_id=msg_id,
            )
    raise ValueError(f"The tester cannot build a {msg_type!r} message.")


def tester_message(
    *, msg_type: str, text: str, event: str, event_key: str, now: datetime
) -> IncomingMessage:
    """Return the message a follower's action would make, parsed as the endpoint parses it."""
    kind, fields = _fields(msg_type, text=text, event=event, event_key=event_key)
    xml = simulator.message_xml(
        msg_type=kind,
        fields=fields,
        openid=TESTER_OPENID,
        account=TESTER_ACCOUNT,
        create_time=int(now.timestamp()),
    )
    return parse_message(xml)


def run_rule_tester(
    *,
    msg_type: str,
    text: str,
    event: str,
    event_key: str,
    account_id: int | None = None,
    now: datetime | None = None,
) -> TesterResult:
    """Return which rule answers the described message on account `account_id` (the environment
    account when None), why, and the exact reply XML."""
    now = now or timezone.now()
    if account_id is None:
        account_id = environment_account_id()
    message = tester_message(
        msg_type=msg_type, text=text, event=event, event_key=event_key, now=now
    )
    explained = explain_choice(message, account_id=account_id, now=now)
    reply_xml = ""
    if explained.choice is not None:
        reply_xml = render_choice(explained.choice, message, now=now)
    return TesterResult(explained=explained, reply_xml=reply_xml)
