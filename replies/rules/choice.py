"""Choose the reply to an incoming message: the one seam between a message and the rules.

The endpoint calls `choose_reply()` for every message; the admin's rule tester calls
`explain_choice()`, which runs the very same steps (`query_for`, the worker's index, `_choose`)
and only adds the list of every rule that matched. A tester with its own copy of these steps
once drifted and promised operators a reply the endpoint never sent.
"""

import random
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from replies.models import ReplyRule
from replies.protocol import IncomingMessage, MsgType, Reply, render_reply
from replies.rules.index import Query, RuleIndex, RuleMatch
from replies.rules.ruleset import RulePayload, get_rule_index

# Speech recognition ends its sentences ("价格。"); a follower saying a keyword should match it.
_SPOKEN_PUNCTUATION = "。！？，、.!?, "


@dataclass(frozen=True)
class ReplyChoice:
    """The reply to send and the rule that chose it; for a "reply all" rule, the replies to
    send after it as customer-service messages (the endpoint stores them in the outbox)."""

    reply: Reply
    rule_id: int | None = None
    rule_name: str = ""
    followups: tuple[Reply, ...] = ()


@dataclass(frozen=True)
class Explanation:
    """What the endpoint would do with a message, and why: every rule that matched, in order."""

    query: Query
    ranked: list[tuple[RuleMatch, bool]]  # every matching rule in winning order, active or not
    winner: RuleMatch | None
    choice: ReplyChoice | None


def query_for(message: IncomingMessage) -> Query:
    """Return what the index matches on for `message`."""
    text = message.text
    if message.msg_type == MsgType.VOICE:
        text = text.rstrip(_SPOKEN_PUNCTUATION)
    return Query(
        msg_type=message.msg_type,
        event=message.event,
        event_key=message.event_key,
        text=text,
    )


def pick_reply(payload: RulePayload) -> Reply | None:
    """Return the reply a rule sends: the first (also for "reply all", whose others follow
    through the outbox), or one at random, per the rule's choice."""
    if not payload.replies:
        return None
    if payload.reply_mode in (ReplyRule.ReplyMode.FIRST, ReplyRule.ReplyMode.ALL):
        return payload.replies[0]
    return random.choice(payload.replies)


def _choose(
    index: RuleIndex, query: Query, *, now: datetime
) -> tuple[RuleMatch | None, ReplyChoice | None]:
    match = index.find(query, now=now)
    reply = pick_reply(match.rule.payload) if match else None
    if reply is None:
        return match, None
    payload = match.rule.payload
    followups = payload.replies[1:] if payload.reply_mode == ReplyRule.ReplyMode.ALL else ()
    return match, ReplyChoice(
        reply=reply, rule_id=match.rule.id, rule_name=match.rule.name, followups=followups
    )


def render_choice(choice: ReplyChoice, message: IncomingMessage, *, now: datetime) -> str:
    """Return the reply XML `choice` answers `message` with: the endpoint stores and sends it,
    the tester shows it. To and From swapped; a news reply cut to what WeChat shows."""
    return render_reply(
        choice.reply,
        to_user=message.from_user,
        from_user=message.to_user,
        create_time=int(now.timestamp()),
        in_reply_to=message.msg_type,
    ).decode()


def choose_reply(
    message: IncomingMessage,
    *,
    now: datetime,
    account_id: int | None = None,
    deadline_at: float | None = None,
) -> ReplyChoice | None:
    """Return the reply to send to `message` on account `account_id` (None: the environment
    account), or None to answer `success` (no reply)."""
    index = get_rule_index(account_id=account_id, deadline_at=deadline_at)
    return _choose(index, query_for(message), now=timezone.localtime(now))[1]


def explain_choice(
    message: IncomingMessage, *, now: datetime, account_id: int | None = None
) -> Explanation:
    """Return what `choose_reply` decides for `message` on account `account_id` (None: the
    environment account) at `now`, with every rule that matched."""
    index = get_rule_index(account_id=account_id)
    local = timezone.localtime(now)
    query = query_for(message)
    winner, choice = _choose(index, query, now=local)
    return Explanation(
        query=query, ranked=index.explain(query, now=local), winner=winner, choice=choice
    )
