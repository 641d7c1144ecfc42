"""The admin's rule tester: run a made-up message through the live rules and show the outcome.

It uses the same index and the same rendering as the endpoint, so what the tester shows is what
a follower would get — except that nothing is stored and no counter moves.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from replies.matching import get_rule_index, pick_reply
from replies.models import Trigger
from replies.protocol import Reply, render_reply
from replies.rule_index import Query, RuleMatch

TESTER_OPENID = "o_rule_tester"
TESTER_ACCOUNT = "gh_rule_tester"


@dataclass(frozen=True)
class TesterResult:
    query: Query
    ranked: list[tuple[RuleMatch, bool]]  # every matching rule in winning order, active or not
    winner: RuleMatch | None
    reply: Reply | None
    reply_xml: str

    @property
    def winner_trigger(self) -> str:
        return describe(self.winner) if self.winner else ""

    @property
    def rows(self) -> list[tuple[RuleMatch, bool, str]]:
        """Every matching rule in winning order, whether it is active, and its trigger in words."""
        return [(match, active, describe(match)) for match, active in self.ranked]


def describe(match: RuleMatch) -> str:
    trigger = match.trigger
    return Trigger.describe(kind=trigger.kind, match=trigger.match, value=trigger.value)


def run_rule_tester(
    *, msg_type: str, text: str, event: str, event_key: str, now: datetime | None = None
) -> TesterResult:
    """Return which rule answers the described message, why, and the exact reply XML."""
    now = timezone.localtime(now or timezone.now())
    is_event = msg_type == "event"
    query = Query(
        msg_type=msg_type,
        event=event if is_event else "",
        event_key=event_key if is_event else "",
        text="" if is_event else text,
    )
    index = get_rule_index()
    ranked = index.explain(query, now=now)
    winner = index.find(query, now=now)
    reply = pick_reply(winner.rule.payload) if winner else None
    reply_xml = ""
    if reply is not None:
        reply_xml = render_reply(
            reply,
            to_user=TESTER_OPENID,
            from_user=TESTER_ACCOUNT,
            create_time=int(now.timestamp()),
            in_reply_to=msg_type,
        ).decode()
    return TesterResult(query=query, ranked=ranked, winner=winner, reply=reply, reply_xml=reply_xml)
