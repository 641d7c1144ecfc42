"""Make a database ready for a wxsite HTTP target: migrate it, load a rule set, empty the log.

Run by bench/run.py with wxsite's settings and the target's DATABASE_URL:

    DATABASE_URL=... python bench/prepare_wxsite.py --ruleset small|10k

The rules go in with bulk_create (no signals fire), then the rule-set version is bumped once,
as an operator's edit would, so every worker builds its index on its first message. The rules
answer on every account, and a stored account with the benchmark's credentials is made, so the
same messages can go to /wechat/ and to /wechat/<BENCH_SLUG>/. Prints one JSON line: how many
rules and keywords went in and how long that took.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wxsite.settings")

import django  # noqa: E402 - settings module set first

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from accounts.models import Account  # noqa: E402
from bench.common import AES_KEY, APP_ID, BENCH_SLUG, TOKEN  # noqa: E402
from bench.rulesets import RULESETS, build_ruleset, reply_text  # noqa: E402
from replies.models import Message, ReplyRule, RuleReply, Trigger  # noqa: E402
from replies.rules.ruleset import bump_ruleset_version  # noqa: E402

BATCH = 5_000


def load_rules(name: str) -> dict:
    """Replace every rule in the database with the rule set `name`; return what went in."""
    specs, _texts = build_ruleset(name)
    started = time.perf_counter()
    with transaction.atomic():
        Trigger.objects.all().delete()
        RuleReply.objects.all().delete()
        ReplyRule.objects.all().delete()
        rules = ReplyRule.objects.bulk_create(
            [
                ReplyRule(
                    name=spec.name[:60],
                    priority=spec.priority,
                    reply_mode=ReplyRule.ReplyMode.FIRST,
                    daily_from=spec.schedule.daily_from if spec.schedule else None,
                )
                for spec in specs
            ],
            batch_size=BATCH,
        )
        triggers, replies = [], []
        for spec, rule in zip(specs, rules, strict=True):
            for trigger in spec.triggers:
                triggers.append(
                    Trigger(rule=rule, kind=trigger.kind, match=trigger.match, value=trigger.value)
                )
            replies.append(RuleReply(rule=rule, reply_type="text", content=reply_text(spec)))
        Trigger.objects.bulk_create(triggers, batch_size=BATCH)
        RuleReply.objects.bulk_create(replies, batch_size=BATCH)
        bump_ruleset_version()
    return {
        "ruleset": name,
        "rules": len(rules),
        "triggers": len(triggers),
        "load_s": round(time.perf_counter() - started, 2),
    }


def store_bench_account() -> None:
    """Create (or refresh) the stored account /wechat/<BENCH_SLUG>/ answers for."""
    account = Account.objects.filter(slug=BENCH_SLUG).first() or Account(
        slug=BENCH_SLUG, name="Benchmark"
    )
    account.app_id = APP_ID
    for name, value in (("token", TOKEN), ("aes_key", AES_KEY)):
        account.set_secret(name, value)
    account.save()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ruleset", choices=RULESETS, required=True)
    args = parser.parse_args(argv)
    call_command("migrate", verbosity=0, interactive=False)
    Message.objects.all().delete()
    store_bench_account()
    print(json.dumps(load_rules(args.ruleset)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
