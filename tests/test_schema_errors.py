"""A database that answers but is not migrated fails loudly: 503 and CRITICAL, never the spool.

An outage (connection refused, timeout, lock) is what the spool is for. A missing table or
column is not one: spooling it would answer WeChat as if all were well while every message
piled up on disk and nobody noticed. The schema faults are made here by renaming a table or a
column inside the test's transaction (rolled back afterwards), on SQLite and PostgreSQL alike.
"""

import logging

import pytest
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connection,
)

from replies.endpoint import spool, storage
from replies.endpoint.deadline import DeadlineExceeded
from replies.endpoint.errors import DatabaseMisconfigured, is_outage
from replies.models import Message, RulesetVersion
from replies.rules import ruleset
from tests.factories import make_rule

pytestmark = pytest.mark.django_db


def rename_table(model, to: str) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(model._meta.db_table)} RENAME TO {quote(to)}")


def rename_column(model, column: str, to: str) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {quote(model._meta.db_table)} RENAME COLUMN {quote(column)} "
            f"TO {quote(to)}"
        )


@pytest.fixture
def rules(wechat):
    ruleset.forget_rule_index()
    make_rule(keywords=["价格"], text="99 元")
    wechat.post(wechat.xml("text", Content="warm the index"))


def critical_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]


def assert_refused_loudly(response, caplog):
    assert response.status_code == 503
    assert response.content.decode() == DatabaseMisconfigured.default_message
    assert any("manage.py migrate" in line for line in critical_lines(caplog)), caplog.text
    assert spool.spooled_files() == []


def test_message_table_missing_answers_503_logs_critical_and_spools_nothing(wechat, rules, caplog):
    rename_table(Message, "replies_message_away")
    response = wechat.post(wechat.xml("text", Content="价格"))
    assert_refused_loudly(response, caplog)


def test_message_column_missing_answers_503_and_spools_nothing(wechat, rules, caplog):
    rename_column(Message, "handling_ms", "handling_ms_away")
    response = wechat.post(wechat.xml("text", Content="价格"), mode="aes")
    assert_refused_loudly(response, caplog)


def test_rule_version_table_missing_answers_503_not_the_stale_index(wechat, rules, caplog):
    rename_table(RulesetVersion, "replies_rulesetversion_away")
    response = wechat.post(wechat.xml("text", Content="价格"))
    assert_refused_loudly(response, caplog)


def test_an_integrity_error_that_is_no_unique_key_is_a_schema_fault_not_a_replay(
    wechat, rules, monkeypatch, caplog
):
    def not_null(self, *args, **kwargs):
        raise IntegrityError("NOT NULL constraint failed: replies_message.new_column")

    monkeypatch.setattr(storage, "_execute_insert", not_null)
    response = wechat.post(wechat.xml("text", Content="价格"))
    assert_refused_loudly(response, caplog)


def test_database_lost_while_reading_the_stored_retry_answers_503_so_wechat_retries(
    wechat, rules, monkeypatch
):
    from replies.endpoint import handling

    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    assert wechat.post_raw(query, body).status_code == 200

    def lost(row):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(handling, "_stored_twin", lost)
    assert wechat.post_raw(query, body).status_code == 503
    assert spool.spooled_files() == []


def test_an_outage_is_still_spooled(wechat, rules, monkeypatch, caplog):
    def refused(self, *args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(storage, "_execute_insert", refused)
    assert wechat.post(wechat.xml("text", Content="价格")).status_code == 200
    assert len(spool.spooled_files()) == 1
    assert critical_lines(caplog) == []


def test_replay_with_the_schema_missing_keeps_every_file_and_says_so(
    wechat, rules, monkeypatch, caplog
):
    original = storage._execute_insert
    monkeypatch.setattr(
        storage,
        "_execute_insert",
        lambda self, *a, **k: (_ for _ in ()).throw(OperationalError("down")),
    )
    wechat.post(wechat.xml("text", Content="a"))
    wechat.post(wechat.xml("text", Content="b"))
    monkeypatch.setattr(storage, "_execute_insert", original)
    rename_table(Message, "replies_message_away")
    result = spool.replay_spool()
    assert (result.stored, result.failed, result.remaining) == (0, 2, 2)
    assert len(critical_lines(caplog)) == 2


@pytest.mark.parametrize(
    "error, outage",
    [
        (OperationalError("connection refused"), True),
        (OperationalError("database is locked"), True),
        (DeadlineExceeded("the database did not answer in time"), True),
        (InterfaceError("connection already closed"), True),
        (DatabaseError("unclassified"), True),
        (OperationalError("no such table: replies_message"), False),
        (OperationalError("no such column: handling_ms"), False),
        (OperationalError("table replies_message has no column named handling_ms"), False),
        (ProgrammingError('relation "replies_message" does not exist'), False),
        (DataError("value too long"), False),
        (IntegrityError("NOT NULL constraint failed"), False),
    ],
)
def test_only_an_unreachable_database_counts_as_an_outage(error, outage):
    assert is_outage(error) is outage
