"""Database down or locked: the endpoint still answers, and the message waits in the spool."""

import json

import pytest
from django.core.management import call_command
from django.db import OperationalError

from replies.endpoint import spool, storage
from replies.models import Message
from replies.protocol import parse_xml
from replies.rules import ruleset as matching
from tests.factories import make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    """Every Message INSERT fails as if the database had gone away."""
    original = storage._execute_insert

    def failing_save(self, *args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(storage, "_execute_insert", failing_save)
    yield
    monkeypatch.setattr(storage, "_execute_insert", original)


@pytest.fixture
def rules(wechat):
    matching.forget_rule_index()
    make_rule(keywords=["价格"], text="99 元")
    wechat.post(wechat.xml("text", Content="warm the index"))  # built while the database is up


def test_database_down_still_answers_from_the_cached_rules_and_spools(
    wechat, rules, database_down, settings
):
    xml = wechat.xml("text", Content="价格")
    response = wechat.post(xml)
    assert response.status_code == 200
    assert parse_xml(response.content)["Content"] == "99 元"
    files = spool.spooled_files()
    assert len(files) == 1
    saved = json.loads(files[0].read_text(encoding="utf-8"))
    assert saved["content"] == "价格" and saved["raw_xml"] == xml.decode()


def test_retry_during_the_outage_gets_the_spooled_reply_and_makes_no_second_file(
    wechat, rules, database_down
):
    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    first = wechat.post_raw(query, body)
    retry = wechat.post_raw(query, body)
    assert retry.content == first.content
    assert len(spool.spooled_files()) == 1


def test_replay_writes_spooled_messages_once_the_database_is_back(wechat, rules, monkeypatch):
    original = storage._execute_insert
    monkeypatch.setattr(
        storage,
        "_execute_insert",
        lambda self, *a, **k: (_ for _ in ()).throw(OperationalError("down")),
    )
    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    wechat.post_raw(query, body)
    wechat.post(wechat.xml("event", Event="CLICK", EventKey="K"))
    monkeypatch.setattr(storage, "_execute_insert", original)
    before = Message.objects.count()
    call_command("replay_spool")
    assert Message.objects.count() == before + 2
    assert spool.spooled_files() == []
    stored = Message.objects.get(content="价格")
    assert parse_xml(stored.reply_xml.encode())["Content"] == "99 元"
    # WeChat's retry now finds the row; replaying again changes nothing.
    assert parse_xml(wechat.post_raw(query, body).content)["Content"] == "99 元"
    call_command("replay_spool")
    assert Message.objects.count() == before + 2


def test_replay_skips_messages_the_database_already_has(wechat, rules, monkeypatch):
    original = storage._execute_insert
    monkeypatch.setattr(
        storage,
        "_execute_insert",
        lambda self, *a, **k: (_ for _ in ()).throw(OperationalError("down")),
    )
    xml = wechat.xml("text", Content="twice")
    wechat.post(xml)
    monkeypatch.setattr(storage, "_execute_insert", original)
    spooled = spool.spooled_files()[0]
    spooled_copy = spooled.read_bytes()
    spooled.unlink()
    wechat.post(xml)  # the retry reaches the database first
    spooled.write_bytes(spooled_copy)
    result = spool.replay_spool()
    assert (result.stored, result.already_stored, result.remaining) == (0, 1, 0)
    assert Message.objects.filter(content="twice").count() == 1


def test_replay_stops_while_the_database_is_still_down(wechat, rules, database_down):
    wechat.post(wechat.xml("text", Content="a"))
    wechat.post(wechat.xml("text", Content="b"))
    result = spool.replay_spool()
    assert result.stored == 0 and result.remaining == 2


def test_disk_full_for_the_spool_answers_503_so_wechat_retries(
    wechat, rules, database_down, monkeypatch, caplog
):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool.os, "fsync", disk_full)
    response = wechat.post(wechat.xml("text", Content="价格"))
    assert response.status_code == 503
    assert spool.spooled_files() == []
    assert not [p for p in spool.spool_dir().iterdir() if p.name.endswith(".tmp")]
    assert any(record.levelname == "CRITICAL" for record in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_a_worker_drains_the_spool_after_its_next_successful_write(wechat, rules, monkeypatch):
    original = storage._execute_insert
    monkeypatch.setattr(
        storage,
        "_execute_insert",
        lambda self, *a, **k: (_ for _ in ()).throw(OperationalError("down")),
    )
    wechat.post(wechat.xml("text", Content="spooled"))
    monkeypatch.setattr(storage, "_execute_insert", original)
    monkeypatch.setattr(spool, "DRAIN_CHECK_INTERVAL", 0.0)
    monkeypatch.setattr(spool._state, "thread", None)
    wechat.post(wechat.xml("text", Content="back"))
    assert spool._state.thread is not None, "a successful write with files waiting starts a drain"
    spool._state.thread.join(timeout=10)
    assert Message.objects.filter(content="spooled").exists()
    assert spool.spooled_files() == []


def test_while_the_spool_is_empty_messages_cost_no_file_look_up(wechat, rules, monkeypatch):
    spool._presence.forget()  # the rules fixture's warm-up message already looked once
    looks = []
    real = spool._holds_anything
    monkeypatch.setattr(spool, "_holds_anything", lambda path: looks.append(path) or real(path))

    def no_reads(path):
        raise AssertionError(f"{path} read while the spool is empty")

    monkeypatch.setattr(spool, "_read_json", no_reads)
    for number in range(20):
        assert (
            wechat.post(wechat.xml("text", Content="价格", MsgId=9000 + number)).status_code == 200
        )
    assert len(looks) == 1, "the spool directory is looked at once a second, not per message"


def test_a_file_another_worker_spooled_is_seen_within_the_interval(
    wechat, rules, database_down, monkeypatch
):
    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    first = wechat.post_raw(query, body)
    spool._presence.empty_seen = (str(spool.spool_dir()), -1e9)  # this worker's view: stale
    monkeypatch.setattr(spool, "PRESENCE_CHECK_INTERVAL", 0.0)
    assert wechat.post_raw(query, body).content == first.content
    assert len(spool.spooled_files()) == 1
