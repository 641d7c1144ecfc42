"""`manage.py import_rules FILE [--account SLUG | --every-account]`: create and update an
account's reply rules from an export_rules file."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from replies.management.options import (
    add_account,
    add_dry_run,
    read_input,
    refusal,
    report_plan,
    rule_scope_from,
)
from replies.rules.transfer import RulesFileError, apply_rules, load_document


class Command(BaseCommand):
    # Like loaddata and dumpdata: data in or out, no need to check the whole project first.
    requires_system_checks = []
    help = (
        "Import reply rules from a JSON file written by export_rules into an official account "
        "(--account; the environment's by default) or, with --every-account, as rules that "
        "answer on every account; rules the file marks every_account always go there. Rules "
        "are matched by name: new ones are created, changed ones updated, equal ones left "
        "alone, so importing the same file twice changes nothing. All or nothing: one invalid "
        "rule and nothing is written."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help="the JSON file, or - for standard input")
        add_dry_run(parser)
        parser.add_argument(
            "--replace",
            action="store_true",
            help="also delete the account's rules (with --every-account: the every-account "
            "rules) the file does not name",
        )
        add_account(parser, every_account=True)

    def handle(self, *args: Any, **options: Any) -> None:
        scope = rule_scope_from(options)
        text = read_input(options["file"], stdin=options.get("stdin"))
        try:
            rules = load_document(text, source=options["file"])
            plan = apply_rules(
                rules, scope=scope, replace=options["replace"], dry_run=options["dry_run"]
            )
        except RulesFileError as error:
            raise CommandError(refusal(error)) from None
        report_plan(self, plan, dry_run=options["dry_run"])
