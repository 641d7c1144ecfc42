"""What the replies commands share: common options, reading FILE or -, reporting an import.

A command imports these from here, never from another command: a command module is an entry
point, and the helpers it shares need one home of their own.
"""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from replies.rules.transfer import ImportPlan, RulesFileError

DRY_RUN_HELP = "show what would change, write nothing"


def add_dry_run(parser: Any, *, help: str = DRY_RUN_HELP) -> None:
    """Declare --dry-run: do the work, write nothing."""
    parser.add_argument("--dry-run", action="store_true", help=help)


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
