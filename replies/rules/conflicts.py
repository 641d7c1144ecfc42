"""Advice for operators after they save a rule: keywords another rule already uses, and rules
that can never answer because an earlier one always wins.

Warnings, not errors: two rules sharing a keyword can be deliberate (one scheduled, one not), so
the admin saves the rule and shows these next to it.

Per account: a rule of one account meets its account's rules and the every-account ones, never
another account's. An every-account rule shares triggers with the rules of any account, but is
only said never to answer when another every-account rule always wins over it: on an account
without rules of its own it would still answer.
"""

from django.utils.translation import gettext as _

from replies.protocol.vocabulary import QR_SCENE_PREFIX, Event, MsgType
from replies.rules.index import (
    CLICK,
    CONTAINS,
    DEFAULT,
    EXACT,
    KEYWORD,
    MSG_TYPE,
    PREFIX,
    REGEX,
    SCAN,
    SUBSCRIBE,
    Query,
    RuleIndex,
    RuleSpec,
    Trigger,
    normalize_text,
)


def warnings_for(rule_id: int, specs: list[RuleSpec], *, now) -> list[str]:
    """Return the warnings for rule `rule_id` among the enabled rules `specs` (of any account:
    the ones that never answer on the rule's account are left out here)."""
    target = next((spec for spec in specs if spec.id == rule_id), None)
    if target is None:  # disabled: it answers nothing, so it conflicts with nothing
        return []
    if target.account_id is None:
        rivals = specs
        shadowing = [spec for spec in specs if spec.account_id is None]
    else:
        rivals = [spec for spec in specs if spec.account_id in (None, target.account_id)]
        shadowing = rivals
    found = _shared_triggers(target, rivals)
    shadow = _shadowing_rule(target, shadowing, now=now)
    if shadow is not None:
        found.append(
            _(
                "This rule never answers: rule “%(other)s” always wins over it (see the order on "
                "the rule list)."
            )
            % {"other": shadow.name}
        )
    return found


def _trigger_identity(trigger: Trigger) -> tuple[str, str, str]:
    value = (
        trigger.value if trigger.kind in (CLICK, SCAN, SUBSCRIBE) else normalize_text(trigger.value)
    )
    return trigger.kind, trigger.match if trigger.kind == KEYWORD else "", value


def _shared_triggers(target: RuleSpec, specs: list[RuleSpec]) -> list[str]:
    mine = {_trigger_identity(t): t for t in target.triggers}
    found = []
    for other in specs:
        if other.id == target.id:
            continue
        for trigger in other.triggers:
            identity = _trigger_identity(trigger)
            if identity not in mine:
                continue
            if identity[0] == DEFAULT:
                found.append(
                    _("Rule “%(other)s” is a default rule too: only one of them answers.")
                    % {"other": other.name}
                )
            else:
                found.append(
                    _("“%(value)s” is also a trigger of rule “%(other)s”.")
                    % {"value": mine[identity].value or mine[identity].kind, "other": other.name}
                )
    return found


def _representative_query(trigger: Trigger) -> Query | None:
    """Return the one query the trigger is most sure to match, or None when we cannot tell."""
    if trigger.kind == KEYWORD:
        return None if trigger.match == REGEX else Query(msg_type=MsgType.TEXT, text=trigger.value)
    if trigger.kind == CLICK:
        return Query(msg_type=MsgType.EVENT, event=Event.CLICK, event_key=trigger.value)
    if trigger.kind == SCAN:
        return Query(msg_type=MsgType.EVENT, event=Event.SCAN, event_key=trigger.value)
    if trigger.kind == SUBSCRIBE:
        key = QR_SCENE_PREFIX + trigger.value if trigger.value else ""
        return Query(msg_type=MsgType.EVENT, event=Event.SUBSCRIBE, event_key=key)
    if trigger.kind == MSG_TYPE:
        return Query(msg_type=trigger.value)
    if trigger.kind == DEFAULT:
        return Query(msg_type=MsgType.TEXT, text="\x00")
    return None


def _covers(winner: Trigger, trigger: Trigger) -> bool:
    """Whether `winner` matches every message that `trigger` matches."""
    if trigger.kind == KEYWORD:
        if winner.kind != KEYWORD:
            return False
        mine, theirs = normalize_text(trigger.value), normalize_text(winner.value)
        if winner.match == CONTAINS:
            return trigger.match in (EXACT, PREFIX, CONTAINS) and theirs in mine
        if winner.match == PREFIX:
            return trigger.match in (EXACT, PREFIX) and mine.startswith(theirs)
        return trigger.match == EXACT  # an exact or regex winner on the only text it can be
    if trigger.kind == CLICK:
        return winner.kind == CLICK and winner.value == trigger.value
    if trigger.kind in (SCAN, SUBSCRIBE):
        return winner.kind == trigger.kind and winner.value in ("", trigger.value)
    return winner.kind == trigger.kind and winner.value == trigger.value


def _shadowing_rule(target: RuleSpec, specs: list[RuleSpec], *, now) -> RuleSpec | None:
    index = RuleIndex.build(specs)
    shadow = None
    for trigger in target.triggers:
        query = _representative_query(trigger)
        if query is None:
            return None
        ranked = index.explain(query, now=now)
        winners = [match for match, _active in ranked]
        first = winners[0] if winners else None
        if first is None or first.rule.id == target.id:
            return None
        if first.rule.schedule is not None or not _covers(first.trigger, trigger):
            return None
        shadow = first.rule
    return shadow
