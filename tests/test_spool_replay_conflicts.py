"""During an outage the spool keeps the database's promises, and replay never drops a message.

The database is taken away the way tests/test_spool.py does it (every Message INSERT raises
OperationalError); the live version, with PostgreSQL cut behind a TCP proxy, is in
tests/test_faults.py.
"""

import json
import os
import threading
import time

import pytest
from django.contrib.auth.models import Group, User
from django.db import OperationalError

from replies.endpoint import spool, storage
from replies.endpoint.errors import ReplayedRequest
from replies.groups import LOG_READERS
from replies.models import Message, SecurityEvent, SpoolConflict
from replies.protocol import parse_xml
from replies.rules import ruleset
from tests.conftest import next_msg_id
from tests.factories import make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    """Every Message INSERT fails as if the database had gone away; `.up()` brings it back."""
    original = storage._execute_insert

    def failing_save(self, *args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(storage, "_execute_insert", failing_save)

    class Outage:
        @staticmethod
        def up():
            monkeypatch.setattr(storage, "_execute_insert", original)

    return Outage


@pytest.fixture
def rules(wechat):
    ruleset.forget_rule_index()
    make_rule(keywords=["价格"], text="99 元")
    wechat.post(wechat.xml("text", Content="warm the index"))  # built while the database is up


def spooled_messages() -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in spool.spooled_files()]


# --- the endpoint during an outage --------------------------------------------------------------


def test_same_signed_query_with_another_body_during_an_outage_is_refused_and_the_first_kept(
    wechat, rules, database_down
):
    query, genuine = wechat.signed(wechat.xml("text", Content="价格"))
    assert wechat.post_raw(query, genuine).status_code == 200
    forged = wechat.post_raw(query, wechat.xml("text", Content="forged"))
    assert forged.status_code == 403
    assert [m["content"] for m in spooled_messages()] == ["价格"]
    assert list(SecurityEvent.objects.values_list("code", flat=True)) == ["replayed_request"]

    database_down.up()
    result = spool.replay_spool()
    assert (result.stored, result.conflicts, result.remaining) == (1, 0, 0)
    assert list(Message.objects.filter(content__in=["价格", "forged"]).values_list("content")) == [
        ("价格",)
    ]


def test_wechats_identical_retry_during_an_outage_gets_the_spooled_reply(
    wechat, rules, database_down
):
    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    first = wechat.post_raw(query, body)
    retry = wechat.post_raw(query, body)
    assert retry.status_code == 200 and retry.content == first.content
    assert parse_xml(retry.content)["Content"] == "99 元"
    assert len(spool.spooled_files()) == 1
    assert SecurityEvent.objects.count() == 0


def test_same_message_key_with_other_content_during_an_outage_is_refused(
    wechat, rules, database_down
):
    msg_id, sent = next_msg_id(), int(time.time())
    genuine = wechat.xml("text", Content="价格", MsgId=msg_id, create_time=sent)
    forged = wechat.xml("text", Content="forged", MsgId=msg_id, create_time=sent)
    assert wechat.post(genuine).status_code == 200
    assert wechat.post(forged).status_code == 403  # another signed query, same dedup key
    assert [m["content"] for m in spooled_messages()] == ["价格"]


def test_a_forgery_after_the_database_is_back_but_before_replay_is_refused(
    wechat, rules, database_down
):
    query, genuine = wechat.signed(wechat.xml("text", Content="价格"))
    wechat.post_raw(query, genuine)
    database_down.up()
    assert wechat.post_raw(query, wechat.xml("text", Content="forged")).status_code == 403
    assert not Message.objects.filter(content="forged").exists()
    assert spool.replay_spool().stored == 1
    assert Message.objects.filter(content="价格").count() == 1


def test_concurrent_bodies_under_one_signed_query_leave_exactly_one_in_the_spool(settings):
    def row(n):
        xml = f"<xml><Content>{n}</Content></xml>"
        return Message(dedup_key=f"{n:040d}", request_key="r" * 40, raw_xml=xml, reply_xml="")

    outcomes = []
    barrier = threading.Barrier(16)

    def arrive(n):
        barrier.wait()
        try:
            spool.spool_message(row(n))
            outcomes.append("spooled")
        except ReplayedRequest:
            outcomes.append("refused")

    threads = [threading.Thread(target=arrive, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["refused"] * 15 + ["spooled"]
    assert len(spool.spooled_files()) == 1
    assert not [p for p in spool.spool_dir().iterdir() if p.name.endswith(".tmp")]


def test_the_request_marker_and_message_file_are_fsynced_with_their_directory(
    wechat, rules, database_down, monkeypatch
):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(spool.os, "fsync", recording_fsync)
    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    assert wechat.post_raw(query, body).status_code == 200
    directory = str(spool.spool_dir().resolve())
    files = [path for path in synced if path != directory]
    assert len(files) == 2 and synced.count(directory) == 2
    markers = list(spool.spool_dir().glob(f"*{spool.MARKER_SUFFIX}"))
    assert len(markers) == 1
    marker = json.loads(markers[0].read_text())
    assert marker["dedup_key"] == spooled_messages()[0]["dedup_key"]


# --- replay: nothing stored or spooled is ever lost ------------------------------------------


def store_like(spooled: dict, **changes) -> Message:
    row = spool._row_from_json({**spooled, **changes})
    row.save(force_insert=True)
    return row


def test_replay_keeps_a_spooled_message_that_differs_from_the_stored_one_as_a_conflict(
    wechat, rules, database_down
):
    xml = wechat.xml("text", Content="价格")
    wechat.post(xml)
    (spooled,) = spooled_messages()
    database_down.up()
    # Another worker reached the database with a different body under the same dedup key.
    other = xml.decode().replace("价格", "other")
    stored = store_like(spooled, raw_xml=other, request_key="s" * 40, content="other")

    result = spool.replay_spool()
    assert (result.stored, result.already_stored, result.conflicts) == (0, 0, 1)
    assert spool.spooled_files() == []
    (kept,) = spool.conflicts_dir().iterdir()
    assert json.loads(kept.read_text(encoding="utf-8"))["raw_xml"] == xml.decode()
    conflict = SpoolConflict.objects.get()
    assert conflict.kind == SpoolConflict.Kind.DEDUP_KEY
    assert conflict.file_name == kept.name and conflict.stored_message_id == stored.pk
    assert conflict.dedup_key == spooled["dedup_key"]
    assert conflict.request_key == spooled["request_key"]
    assert conflict.spooled_xml == xml.decode()
    assert Message.objects.get(pk=stored.pk).raw_xml == other  # the stored row is untouched
    assert spool.replay_spool().conflicts == 0  # settled once
    assert SpoolConflict.objects.count() == 1


def test_replay_keeps_a_message_whose_signed_query_the_database_holds_for_another(
    wechat, rules, database_down
):
    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    wechat.post_raw(query, body)
    (spooled,) = spooled_messages()
    database_down.up()
    stored = store_like(spooled, dedup_key="d" * 40, raw_xml="<xml><Content>forged</Content></xml>")
    result = spool.replay_spool()
    assert result.conflicts == 1 and spool.spooled_files() == []
    conflict = SpoolConflict.objects.get()
    assert conflict.kind == SpoolConflict.Kind.REQUEST_KEY
    assert conflict.stored_message_id == stored.pk
    assert len(list(spool.conflicts_dir().iterdir())) == 1


def test_replay_deletes_a_spooled_file_only_when_the_database_holds_the_same_message(
    wechat, rules, database_down
):
    xml = wechat.xml("text", Content="twice")
    wechat.post(xml)
    (spooled,) = spooled_messages()
    database_down.up()
    store_like(spooled, request_key="t" * 40, reply_xml="another reply")  # same message
    result = spool.replay_spool()
    assert (result.already_stored, result.conflicts) == (1, 0)
    assert spool.spooled_files() == [] and not spool.conflicts_dir().exists()


def test_replay_removes_request_markers_only_once_their_query_is_stale(
    wechat, rules, database_down, settings
):
    wechat.post(wechat.xml("text", Content="价格"))
    database_down.up()
    old = spool.spool_dir() / f"{'o' * 40}{spool.MARKER_SUFFIX}"
    old.write_text("{}")
    long_ago = time.time() - 2 * settings.WECHAT_TIMESTAMP_WINDOW - 120
    os.utime(old, (long_ago, long_ago))
    spool.replay_spool()
    markers = list(spool.spool_dir().glob(f"*{spool.MARKER_SUFFIX}"))
    assert old not in markers and len(markers) == 1  # the fresh one still guards its query


# --- the admin ------------------------------------------------------------------------------


@pytest.fixture
def conflict(wechat, rules, database_down):
    xml = wechat.xml("text", Content="价格")
    wechat.post(xml)
    (spooled,) = spooled_messages()
    database_down.up()
    store_like(spooled, raw_xml=xml.decode().replace("价格", "other"), request_key="u" * 40)
    spool.replay_spool()
    return SpoolConflict.objects.get()


def test_spool_conflicts_are_shown_read_only_in_the_admin(admin_client, conflict):
    listing = admin_client.get("/admin/replies/spoolconflict/")
    assert listing.status_code == 200 and conflict.dedup_key.encode() in listing.content
    detail = admin_client.get(f"/admin/replies/spoolconflict/{conflict.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert "价格".encode() in detail.content and b"other" in detail.content
    assert b'<pre class="wx-pre-wrap">' in detail.content  # styled by CSS: the CSP allows no style=
    assert admin_client.get("/admin/replies/spoolconflict/add/").status_code == 403
    delete = f"/admin/replies/spoolconflict/{conflict.pk}/delete/"
    assert admin_client.get(delete).status_code == 403


def test_log_readers_see_spool_conflicts(client, conflict):
    reader = User.objects.create_user("reader", password="pw", is_staff=True)
    reader.groups.add(Group.objects.get(name=LOG_READERS))
    client.force_login(reader)
    assert client.get("/admin/replies/spoolconflict/").status_code == 200
    assert client.get(f"/admin/replies/spoolconflict/{conflict.pk}/change/").status_code == 200
