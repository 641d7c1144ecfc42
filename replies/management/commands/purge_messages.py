"""`manage.py purge_messages --older-than 180d`: delete old rows of the message log in batches.

The log grows with every message; retention rules (and the database's size) call for removing
old rows. One DELETE over millions of rows would hold its locks for minutes and block the
endpoint's inserts, so rows go in batches of primary keys, each its own short transaction, with
a progress bar on stderr. Retention is usually one rule for the whole log, so every account's
messages go by default; `--account SLUG` keeps to one account's.
"""

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet
from django.utils import timezone

from replies.management.options import account_from, add_account, add_dry_run
from replies.models import Message

AGE_PATTERN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
BAR_WIDTH = 30


def cutoff_for(text: str, *, now: datetime) -> datetime:
    """Return `now` minus the age `text` names (`30m`, `12h`, `180d`, `2w`); else ValueError."""
    match = AGE_PATTERN.match(text)
    if not match:
        raise ValueError(
            f"--older-than takes a number and a unit: 30m, 12h, 180d or 2w (not {text!r})."
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    if number <= 0:
        raise ValueError("--older-than must be more than zero: 0 would delete every message.")
    try:
        return now - timedelta(**{AGE_UNITS[unit]: number})
    except OverflowError:
        raise ValueError(f"--older-than {text} reaches back before the year 1.") from None


def progress_bar(*, done: int, total: int) -> str:
    """Return a one-line text bar: `[#########.....]  60%  3,000/5,000`."""
    fraction = min(done / total, 1.0) if total else 1.0
    filled = round(fraction * BAR_WIDTH)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%}  {done:,}/{total:,}"


class Command(BaseCommand):
    help = (
        "Delete messages received longer ago than --older-than (30m, 12h, 180d, 2w), in "
        "batches so the endpoint is never blocked for long."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            required=True,
            metavar="AGE",
            help="e.g. 180d: delete messages received more than 180 days ago (m, h, d, w)",
        )
        add_dry_run(parser, help="count the messages, delete nothing")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="rows per DELETE (default 5000)",
        )
        add_account(
            parser,
            help="only the messages of this official account (its URL name); default: every "
            "account's",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            cutoff = cutoff_for(options["older_than"], now=timezone.now())
        except ValueError as error:
            raise CommandError(str(error)) from None
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        messages = Message.objects.all()
        when = f"received before {timezone.localtime(cutoff):%Y-%m-%d %H:%M:%S %Z}"
        if options["account"] is not None:
            account = account_from(options["account"])
            messages = messages.filter(account=account)
            when += f" by account {account.slug}"
        total = messages.filter(received_at__lt=cutoff).count()
        if options["dry_run"]:
            self.stdout.write(f"Would delete {total:,} messages {when}. (Dry run: none deleted.)")
            return
        deleted = purge(
            cutoff=cutoff,
            batch_size=batch_size,
            total=total,
            progress=self.draw,
            messages=messages,
        )
        self.stderr.write("")  # end the progress bar's line
        self.stdout.write(f"Deleted {deleted:,} messages {when}.")

    def draw(self, done: int, total: int) -> None:
        """Redraw the progress bar on stderr."""
        # \r redraws the line in a terminal; a log file gets one line per batch, still readable.
        self.stderr.write(f"\r{progress_bar(done=done, total=total)}", ending="")
        self.stderr.flush()


def purge(
    *,
    cutoff: datetime,
    batch_size: int,
    total: int,
    progress: Callable[[int, int], None],
    messages: QuerySet[Message] | None = None,
) -> int:
    """Delete the `messages` (all by default) received before `cutoff`, `batch_size` at a time;
    return how many.

    Each batch selects the ids of the oldest rows (through the received_at index) and deletes
    exactly those, so no statement touches more than `batch_size` rows and each commits on
    its own. Rows that become old while it runs are deleted too; `progress(done, total)` is
    called after each batch, with the total raised when more rows than counted went.
    """
    messages = Message.objects.all() if messages is None else messages
    deleted = 0
    progress(0, total)
    while True:
        ids = list(
            messages.filter(received_at__lt=cutoff)
            .order_by("received_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        _, per_model = Message.objects.filter(pk__in=ids).delete()
        deleted += per_model.get(Message._meta.label, 0)
        total = max(total, deleted)
        progress(deleted, total)
    return deleted
