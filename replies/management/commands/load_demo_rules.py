"""`manage.py load_demo_rules`: load a small first-run rule set (replies/rules/demo_rules.json)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from replies.management.options import (
    add_account,
    add_dry_run,
    refusal,
    report_plan,
    rule_scope_from,
)
from replies.rules.transfer import RulesFileError, apply_rules, load_document

DEMO_RULES = Path(__file__).resolve().parents[2] / "rules" / "demo_rules.json"


class Command(BaseCommand):
    # Like loaddata and dumpdata: data in or out, no need to check the whole project first.
    requires_system_checks = []
    help = (
        "Load the demo reply rules: a follow greeting, 你好/hello, 价格, 帮助/help (also the "
        "menu key MENU_HELP), order numbers, an image answer, an out-of-office rule for "
        "18:00–09:00 (disabled) and a default reply. Loading again changes nothing; a demo "
        "rule edited in the admin is set back to the demo version. They go to one account "
        "(--account; the environment's by default) or, with --every-account, to every account."
    )

    def add_arguments(self, parser):
        add_dry_run(parser)
        add_account(parser, every_account=True)

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        scope = rule_scope_from(options)
        try:
            rules = load_document(DEMO_RULES.read_text(encoding="utf-8"), source=DEMO_RULES.name)
            plan = apply_rules(rules, scope=scope, dry_run=dry_run)
        except RulesFileError as error:
            raise CommandError(refusal(error)) from None
        report_plan(self, plan, dry_run=dry_run)
