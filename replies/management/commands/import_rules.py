"""`manage.py import_rules FILE`: create and update reply rules from an export_rules file."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from replies.management.options import add_dry_run, read_input, refusal, report_plan
from replies.rules.transfer import RulesFileError, apply_rules, load_document


class Command(BaseCommand):
    # Like loaddata and dumpdata: data in or out, no need to check the whole project first.
    requires_system_checks = []
    help = (
        "Import reply rules from a JSON file written by export_rules. Rules are matched by "
        "name: new ones are created, changed ones updated, equal ones left alone, so importing "
        "the same file twice changes nothing. All or nothing: one invalid rule and nothing is "
        "written."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help="the JSON file, or - for standard input")
        add_dry_run(parser)
        parser.add_argument(
            "--replace",
            action="store_true",
            help="also delete the rules the file does not name",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        text = read_input(options["file"], stdin=options.get("stdin"))
        try:
            rules = load_document(text, source=options["file"])
            plan = apply_rules(rules, replace=options["replace"], dry_run=options["dry_run"])
        except RulesFileError as error:
            raise CommandError(refusal(error)) from None
        report_plan(self, plan, dry_run=options["dry_run"])
