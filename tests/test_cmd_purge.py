"""purge_messages: old rows of the message log go, in batches; recent rows stay."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from replies.management.commands.purge_messages import cutoff_for, progress_bar
from replies.models import Message

pytestmark = pytest.mark.django_db


def add_message(*, age: timedelta, number: int) -> Message:
    received = timezone.now() - age
    return Message.objects.create(
        dedup_key=hashlib.sha1(f"purge-{number}".encode()).hexdigest(),
        to_user="gh_test",
        openid=f"o_{number}",
        msg_type="text",
        content=f"message {number}",
        created_at=received,
        received_at=received,
        raw_xml="<xml/>",
    )


@pytest.fixture
def messages():
    """Seven messages older than 180 days and four younger ones."""
    old_ages = [181, 200, 365, 400, 500, 700, 1000]
    young_ages = [0, 1, 90, 179]
    old = [add_message(age=timedelta(days=days), number=n) for n, days in enumerate(old_ages)]
    young = [
        add_message(age=timedelta(days=days), number=100 + n) for n, days in enumerate(young_ages)
    ]
    return {message.pk for message in old}, {message.pk for message in young}


def purge(*args):
    out, err = StringIO(), StringIO()
    call_command("purge_messages", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dry_run_counts_the_old_messages_and_deletes_nothing(messages):
    output, _ = purge("--older-than", "180d", "--dry-run")

    assert output.startswith("Would delete 7 messages received before ")
    assert "Dry run: none deleted." in output
    assert Message.objects.count() == 11


def test_purge_deletes_exactly_the_old_messages_in_several_batches(messages):
    old, young = messages

    with CaptureQueriesContext(connection) as queries:
        output, progress = purge("--older-than", "180d", "--batch-size", "3")

    assert set(Message.objects.values_list("pk", flat=True)) == young
    assert output.startswith("Deleted 7 messages received before ")
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1
    assert progress.count("\r[") == 4  # the empty bar, then one redraw per batch
    assert progress.rstrip().endswith("100%  7/7")


@pytest.mark.parametrize(
    "age, older, younger",
    [
        ("30m", timedelta(minutes=45), timedelta(minutes=5)),
        ("12h", timedelta(hours=13), timedelta(hours=11)),
        ("2w", timedelta(days=15), timedelta(days=13)),
    ],
)
def test_each_unit_deletes_only_what_is_older(age, older, younger):
    add_message(age=older, number=1)
    kept = add_message(age=younger, number=2)

    purge("--older-than", age)

    assert list(Message.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("180d", timedelta(days=180)),
        ("2w", timedelta(weeks=2)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_cutoff_is_now_minus_the_age(text, expected):
    now = timezone.now()

    assert cutoff_for(text, now=now) == now - expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("180", "takes a number and a unit"),
        ("5y", "takes a number and a unit"),
        ("-3d", "takes a number and a unit"),
        ("1.5d", "takes a number and a unit"),
        ("d", "takes a number and a unit"),
        ("0d", "must be more than zero"),
        ("99999999999w", "before the year 1"),
    ],
)
def test_nonsense_ages_are_refused_and_nothing_is_deleted(messages, text, message):
    with pytest.raises(CommandError, match=message):
        purge(f"--older-than={text}")

    assert Message.objects.count() == 11


def test_batch_size_below_one_is_refused(messages):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        purge("--older-than", "180d", "--batch-size", "0")


def test_nothing_old_deletes_nothing_and_says_so(messages):
    output, _ = purge("--older-than", "2000d")

    assert output.startswith("Deleted 0 messages")
    assert Message.objects.count() == 11


def test_progress_bar_shows_fraction_and_counts():
    assert progress_bar(done=0, total=0) == f"[{'#' * 30}] 100%  0/0"
    assert progress_bar(done=1500, total=3000) == f"[{'#' * 15}{'.' * 15}]  50%  1,500/3,000"
