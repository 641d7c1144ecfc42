"""Small helpers to make rules in tests, the way the admin saves them."""

from replies.models import ReplyRule, RuleReply, Trigger


def make_rule(
    name="rule",
    *,
    keywords=(),
    match="exact",
    triggers=(),
    text="reply",
    replies=None,
    priority=0,
    enabled=True,
    reply_mode="first",
    **fields,
) -> ReplyRule:
    """Create a rule with keyword triggers (or explicit (kind, value, match) triggers) and replies.

    `replies` is a list of dicts of RuleReply fields; by default one text reply `text`.
    """
    rule = ReplyRule.objects.create(
        name=name, priority=priority, enabled=enabled, reply_mode=reply_mode, **fields
    )
    for keyword in keywords:
        Trigger.objects.create(rule=rule, kind="keyword", match=match, value=keyword)
    for kind, value, trigger_match in triggers:
        Trigger.objects.create(rule=rule, kind=kind, value=value, match=trigger_match)
    for position, reply in enumerate(replies or [{"reply_type": "text", "content": text}]):
        RuleReply.objects.create(rule=rule, position=position, **reply)
    return rule
