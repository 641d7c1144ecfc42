"""The reply-rule sets the HTTP targets run with, and the texts their messages carry.

Built from bench/match_bench.py's seeded generators, so the HTTP benchmark, the in-process
benchmark and match_bench itself match against the same kind of rules:

- "small": what a real account has — about 200 keywords (the WeChat console's own limit is 200
  rules), plus the benchmark's keyword rule (KEYWORD, exact, highest priority) that every
  message of the plain and safe-mode targets hits.
- "10k": exactly 10,000 rules (about 55,000 keywords, 300 regexes, menu, follow, type and
  default rules); its messages are match_bench's realistic texts, hits and misses (a miss gets
  the default rule's reply).

No Django here: bench/prepare_wxsite.py turns the specs into rows.
"""

import random
from datetime import timedelta

from bench import match_bench
from bench.common import KEYWORD, KEYWORD_REPLY
from replies.rules.index import EXACT, RuleSpec, Trigger
from replies.rules.index import KEYWORD as KEYWORD_KIND

RULESETS = ("small", "10k")
TEN_THOUSAND = 10_000


def keyword_rule(rule_id: int) -> RuleSpec:
    """Return the rule every message of the plain and safe-mode targets matches."""
    return RuleSpec(
        id=rule_id,
        name="营业时间",
        priority=10,
        created_at=match_bench.NOW - timedelta(days=30),
        triggers=(Trigger(kind=KEYWORD_KIND, value=KEYWORD, match=EXACT),),
        payload={"reply": KEYWORD_REPLY},
    )


def build_ruleset(name: str) -> tuple[list[RuleSpec], list[str]]:
    """Return (rules, message texts) of the rule set `name`; seeded, so always the same."""
    if name == "small":
        rng = random.Random(f"{match_bench.SEED}-small")
        rules, _ = match_bench.make_rules(rng, 200)
        return [keyword_rule(len(rules) + 1), *rules], [KEYWORD]
    if name == "10k":
        rng = random.Random(f"{match_bench.SEED}-10k")
        rules, by_mode = match_bench.make_rules(rng, 60_000)
        # make_rules puts the keyword rules first and the menu, follow, type and default rules
        # last: keep all of the latter and as many keyword rules as make 10,000 in all.
        extras = [rule for rule in rules if rule.triggers[0].kind != KEYWORD_KIND]
        keyword_rules = [rule for rule in rules if rule.triggers[0].kind == KEYWORD_KIND]
        chosen = keyword_rules[: TEN_THOUSAND - len(extras)] + extras
        kept = {trigger.value for rule in chosen for trigger in rule.triggers}
        by_mode = {mode: [w for w in words if w in kept] for mode, words in by_mode.items()}
        texts = [query.text for query in match_bench.make_queries(rng, by_mode)]
        return chosen, [text for text in texts if text.strip()]
    raise ValueError(f"unknown rule set {name!r}; choose from {', '.join(RULESETS)}")


def reply_text(rule: RuleSpec) -> str:
    """Return the text a rule of these sets answers with."""
    payload = rule.payload or {}
    return payload.get("reply", f"reply {rule.id}")
