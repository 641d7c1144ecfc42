"""`manage.py export_rules`: write every reply rule to a JSON file (or stdout)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from replies.rules.transfer import dump_document, export_document


class Command(BaseCommand):
    # Like loaddata and dumpdata: data in or out, no need to check the whole project first.
    requires_system_checks = []
    help = (
        "Write all reply rules (enabled or not) with their schedules, triggers and replies as "
        "a versioned JSON document, for import_rules on this or another wxsite."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="write to FILE instead of standard output"
        )

    def handle(self, *args: Any, output: str | None = None, **options: Any) -> None:
        document = export_document()
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
        self.stderr.write(f"Exported {count} rule{'' if count == 1 else 's'} to {output}.")
