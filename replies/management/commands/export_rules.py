"""`manage.py export_rules`: write an account's reply rules to a JSON file (or stdout)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from replies.management.options import add_account, rule_scope_from
from replies.rules.transfer import dump_document, export_document


class Command(BaseCommand):
    # Like loaddata and dumpdata: data in or out, no need to check the whole project first.
    requires_system_checks = []
    help = (
        "Write the reply rules that answer on an official account (enabled or not, its own "
        "and those for every account, marked so) with their schedules, triggers and replies as "
        "a versioned JSON document, for import_rules on this or another wxsite. With "
        "--every-account, only the rules that answer on every account."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="write to FILE instead of standard output"
        )
        add_account(parser, every_account=True)

    def handle(self, *args: Any, output: str | None = None, **options: Any) -> None:
        scope = rule_scope_from(options)
        document = export_document(scope)
        text = dump_document(document)
        if output is None:
            # ending="": the document already ends with a newline.
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror or error}.") from None
        count = len(document["rules"])
        self.stderr.write(
            f"Exported {count} rule{'' if count == 1 else 's'} of {scope} to {output}."
        )
