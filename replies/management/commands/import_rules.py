"""`manage.py import_rules FILE`: create and update reply rules from an export_rules file."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from replies.rules.transfer import ImportPlan, RulesFileError, apply_rules, load_document


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
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would change, write nothing"
        )
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


def read_input(path: str, *, stdin: Any = None) -> str:
    """Return the text of `path` (`-`: standard input), or raise a one-line CommandError."""
    if path == "-":
        return (stdin or sys.stdin).read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"No file {path}.") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text.") from None
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from None


def refusal(error: RulesFileError) -> str:
    """Return the message for a refused file: every problem, and that nothing was written."""
    problems = "\n".join(f"  {problem}" for problem in error.problems)
    return f"Nothing was imported:\n{problems}"


def report_plan(command: BaseCommand, plan: ImportPlan, *, dry_run: bool) -> None:
    """Print one line per rule, then the totals (and that a dry run wrote nothing)."""
    for change in plan.changes:
        command.stdout.write(str(change))
    command.stdout.write(plan.summary())
    if dry_run:
        command.stdout.write("Dry run: nothing was written.")
