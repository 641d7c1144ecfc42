"""Several official accounts at their own URLs: each answers with its own credentials and rules.

Accounts A and B (tests/accounts_helpers.py) differ in Token, AppID, EncodingAESKey and original
ID. Each answers at /wechat/<slug>/ in all three modes with its own rules and the every-account
ones; a message signed for one is refused at the other's URL; a key rotated on one is used within
the staleness bound and touches nothing of the other; retries, the spool, security events and
"reply all" follow-ups stay with the account of the URL; an edit of one account's rule moves
that account's rule-set version only.
"""

import functools
import json
import logging
import time
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.environment import environment_account_id
from accounts.models import Account
from replies.endpoint import account_lookup, spool, storage
from replies.endpoint.handling import dedup_key_for
from replies.models import Message, OutgoingMessage, ReplyRule, SecurityEvent
from replies.protocol import compute_signature, parse_message, parse_xml
from replies.protocol.client import build_message_xml
from replies.rules import ruleset
from replies.rules.choice import explain_choice
from replies.rules.conflicts import warnings_for
from tests import accounts_helpers
from tests.accounts_helpers import ACCOUNT_A, ACCOUNT_B, credentials_of
from tests.conftest import OPENID
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

# Fixtures: accounts A and B, and WeChat's servers signing for each at its URL.
secrets_key = accounts_helpers.secrets_key
two_accounts = accounts_helpers.two_accounts
account_a = accounts_helpers.account_a
account_b = accounts_helpers.account_b

MODES = ["plain", "compat", "aes"]


def answer(server, text: str, *, mode: str = "plain", **fields) -> dict:
    response = server.post(server.xml("text", Content=text, **fields), mode=mode)
    return parse_xml(server.reply(response, mode=mode))


@pytest.fixture
def rules(two_accounts):
    a, b = two_accounts
    make_rule("A 价格", account=a, keywords=["价格"], text="A: 99 元")
    make_rule("B 价格", account=b, keywords=["价格"], text="B: 88 元")
    make_rule("every account", keywords=["你好"], text="欢迎")


# --- each account answers with its own credentials and rules -----------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_two_accounts_answer_with_their_own_rules_in_every_mode(account_a, account_b, rules, mode):
    for server, own in ((account_a, "A: 99 元"), (account_b, "B: 88 元")):
        reply = answer(server, "价格", mode=mode)
        assert reply["Content"] == own
        assert reply["FromUserName"] == server.to_user and reply["ToUserName"] == OPENID
        assert answer(server, "你好", mode=mode)["Content"] == "欢迎"
    stored = Message.objects.order_by("id")
    assert [(row.account_id, row.mode) for row in stored] == [
        (account_a.account_id, mode),
        (account_a.account_id, mode),
        (account_b.account_id, mode),
        (account_b.account_id, mode),
    ]
    assert {row.to_user for row in stored} == {ACCOUNT_A["original_id"], ACCOUNT_B["original_id"]}


def test_the_environment_account_keeps_its_rules_and_not_the_stored_ones(wechat, rules):
    make_rule("environment 价格", account_id=environment_account_id(), keywords=["价格"], text="E")
    response = wechat.post(wechat.xml("text", Content="价格"))
    assert parse_xml(response.content)["Content"] == "E"
    response = wechat.post(wechat.xml("text", Content="你好"))
    assert parse_xml(response.content)["Content"] == "欢迎"
    assert set(Message.objects.values_list("account", flat=True)) == {environment_account_id()}


def test_each_account_verifies_its_url_with_its_own_token(account_a, account_b):
    def verify(server, token):
        timestamp, nonce = str(int(time.time())), "4242"
        return server.get(
            {
                "signature": compute_signature(token, timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
                "echostr": "echo-1",
            }
        )

    assert verify(account_a, ACCOUNT_A["token"]).content == b"echo-1"
    assert verify(account_b, ACCOUNT_B["token"]).content == b"echo-1"
    assert verify(account_b, ACCOUNT_A["token"]).status_code == 403


@pytest.mark.parametrize("mode", MODES)
def test_a_message_signed_for_one_account_is_refused_at_the_others_url(account_a, account_b, mode):
    query, body = account_a.signed(account_a.xml("text", Content="价格"), mode=mode)
    response = account_b.post_raw(query, body)
    assert response.status_code == 403
    assert Message.objects.count() == 0
    event = SecurityEvent.objects.get()
    assert event.account_id == account_b.account_id
    assert event.code in ("invalid_signature", "invalid_msg_signature")


# --- credentials: looked up per worker, decrypted once per change -----------------------------


@pytest.fixture
def decryptions(monkeypatch):
    """Count how often the endpoint decrypts an account's secrets, by slug."""
    counted = []
    real = account_lookup.account_credentials

    def counting(account):
        counted.append(account.slug)
        return real(account)

    monkeypatch.setattr(account_lookup, "account_credentials", counting)
    return counted


def test_secrets_are_decrypted_once_per_change_not_per_message(account_a, decryptions):
    for _ in range(3):
        assert account_a.post(account_a.xml("text", Content="x")).status_code == 200
    assert decryptions == ["shop-a"]


def test_rotating_one_accounts_key_keeps_it_answering_with_either_key_and_leaves_the_other(
    account_a, account_b, rules, decryptions
):
    answer(account_a, "价格", mode="aes")
    answer(account_b, "价格", mode="aes")
    b_before = account_lookup._stored.entries["news-b"].account
    new_key = "NEWa0123456789abcdefghijklmnopqrstuvwxyzABC"
    old = dict(ACCOUNT_A)
    account = account_a.account
    account.set_secret("aes_key", new_key)
    account.set_secret("previous_aes_key", ACCOUNT_A["aes_key"])
    account.save()

    rotated = {**ACCOUNT_A, "aes_key": new_key, "previous_aes_key": ACCOUNT_A["aes_key"]}
    account_a.credentials = credentials_of(rotated)  # WeChat seals with the new key
    assert answer(account_a, "价格", mode="aes")["Content"] == "A: 99 元"
    account_a.credentials = credentials_of(old)  # a message sealed before the switch
    query, body = account_a.signed(account_a.xml("text", Content="价格"), mode="aes")
    account_a.credentials = credentials_of(rotated)  # our reply is sealed with the new key
    assert parse_xml(account_a.reply(account_a.post_raw(query, body), mode="aes"))["Content"] == (
        "A: 99 元"
    )

    assert answer(account_b, "价格", mode="aes")["Content"] == "B: 88 元"
    assert account_lookup._stored.entries["news-b"].account is b_before
    assert decryptions == ["shop-a", "news-b", "shop-a"]  # once per account and change


def test_a_changed_key_reaches_the_worker_within_the_staleness_bound(
    account_a, settings, monkeypatch
):
    settings.WECHAT_RULES_MAX_STALENESS = 60
    clock = [1000.0]
    monkeypatch.setattr(account_lookup.time, "monotonic", lambda: clock[0])
    assert account_a.post(account_a.xml("text", Content="x")).status_code == 200
    account = account_a.account
    account.set_secret("token", "newTokenOfA1")
    account.save()  # as the admin or add_account --update, in another process
    account_a.credentials = credentials_of({**ACCOUNT_A, "token": "newTokenOfA1"})

    clock[0] += 59  # within the bound: this worker still checks with the old token
    assert account_a.post(account_a.xml("text", Content="x")).status_code == 403
    clock[0] += 2  # past it: the row is read again
    assert account_a.post(account_a.xml("text", Content="x")).status_code == 200


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/wechat/no-such-account/", "/wechat/no-such-account", "/wechat/UPPER/", "/wechat/default/"],
)
def test_an_unknown_slug_is_a_short_404_recorded_without_an_account(client, two_accounts, path):
    timestamp = str(int(time.time()))
    query = {
        "signature": compute_signature(ACCOUNT_A["token"], timestamp, "1"),
        "timestamp": timestamp,
        "nonce": "1",
    }
    response = client.post(f"{path}?{urlencode(query)}", data=b"<xml/>", content_type="text/xml")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain") and len(response.content) < 100
    event = SecurityEvent.objects.get()
    assert (event.code, event.account_id, event.status) == ("unknown_account", None, 404)
    assert Message.objects.count() == 0


@pytest.mark.parametrize("keys", [[], [Fernet.generate_key().decode()]])
def test_an_account_whose_secrets_cannot_be_decrypted_is_a_503_naming_it(
    account_a, settings, caplog, keys
):
    settings.WECHAT_SECRETS_KEYS = keys  # none, or one that did not encrypt them
    with caplog.at_level(logging.CRITICAL, logger="replies.endpoint"):
        response = account_a.post(account_a.xml("text", Content="x"))
    assert response.status_code == 503
    assert b"retry" in response.content
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "shop-a" in critical[0]
    for secret in (ACCOUNT_A["token"], ACCOUNT_A["aes_key"], ACCOUNT_A["app_secret"]):
        assert secret not in critical[0] and secret.encode() not in response.content
    assert Message.objects.count() == 0


def test_security_events_name_the_account_of_the_url(account_a, account_b, wechat):
    for server in (account_a, account_b, wechat):
        query, body = server.signed(server.xml("text", Content="x"))
        server.post_raw(query | {"signature": "0" * 40}, body)
    assert sorted(SecurityEvent.objects.values_list("account", flat=True)) == sorted(
        [account_a.account_id, account_b.account_id, environment_account_id()]
    )


# --- retries, the spool and follow-ups stay with the account ---------------------------------


def test_retries_are_deduplicated_per_account(account_a, account_b, wechat, rules):
    xml = account_a.xml("text", Content="价格", MsgId=777, create_time=1_700_000_000)
    first = account_a.post(xml)
    assert account_a.post(xml).content == first.content  # WeChat's retry
    assert parse_xml(account_b.post(xml).content)["Content"] == "B: 88 元"  # another account
    wechat.post(xml)
    assert Message.objects.count() == 3
    # /wechat/ keeps the keys it had before there were several accounts.
    stored = Message.objects.get(account=environment_account_id())
    assert stored.dedup_key == dedup_key_for(parse_message(xml))
    assert Message.objects.get(account=account_a.account_id).dedup_key != stored.dedup_key


@pytest.fixture
def database_down(monkeypatch):
    original = storage._execute_insert

    def failing(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(storage, "_execute_insert", failing)
    return lambda: monkeypatch.setattr(storage, "_execute_insert", original)


def test_spooled_messages_carry_their_account_and_replay_there(
    account_a, account_b, rules, database_down
):
    xml = account_a.xml("text", Content="价格", MsgId=888, create_time=1_700_000_000)
    assert parse_xml(account_a.post(xml).content)["Content"] == "A: 99 元"
    assert parse_xml(account_b.post(xml).content)["Content"] == "B: 88 元"
    files = [json.loads(path.read_text()) for path in spool.spooled_files()]
    assert sorted(data["account_id"] for data in files) == sorted(
        [account_a.account_id, account_b.account_id]
    )
    database_down()  # the database is back
    call_command("replay_spool")
    replayed = dict(Message.objects.values_list("account", "content"))
    assert replayed == {account_a.account_id: "价格", account_b.account_id: "价格"}
    for row in Message.objects.all():
        expected = "A: 99 元" if row.account_id == account_a.account_id else "B: 88 元"
        assert parse_xml(row.reply_xml.encode())["Content"] == expected


def test_a_spool_file_from_before_accounts_replays_to_the_environment_account(
    wechat, database_down
):
    wechat.post(wechat.xml("text", Content="old"))
    (path,) = spool.spooled_files()
    data = json.loads(path.read_text())
    del data["account_id"]  # as a file spooled by the previous release
    path.write_text(json.dumps(data))
    database_down()
    call_command("replay_spool")
    assert Message.objects.get().account_id == environment_account_id()


def test_without_the_environment_accounts_id_the_message_is_spooled_not_lost(wechat, monkeypatch):
    @functools.cache  # as the real one: read once per process, but this read fails
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(account_lookup, "environment_account_id", unreachable)
    response = wechat.post(wechat.xml("text", Content="during the outage"))
    assert response.status_code == 200
    assert Message.objects.count() == 0 and len(spool.spooled_files()) == 1
    monkeypatch.undo()
    call_command("replay_spool")
    assert Message.objects.get().account_id == environment_account_id()


def test_reply_all_follow_ups_belong_to_the_messages_account(account_b):
    make_rule(
        "all",
        account=account_b.account,
        keywords=["营业"],
        reply_mode=ReplyRule.ReplyMode.ALL,
        replies=[{"reply_type": "text", "content": text} for text in ("一", "二", "三")],
    )
    assert answer(account_b, "营业")["Content"] == "一"
    assert set(OutgoingMessage.objects.values_list("account", flat=True)) == {account_b.account_id}


# --- rules per account ---------------------------------------------------------------------------


def test_an_edit_of_one_accounts_rule_moves_its_version_only(two_accounts):
    a, b = two_accounts
    rule = make_rule("A rule", account=a, keywords=["x"])
    version_a = ruleset.current_ruleset_version(account_id=a.pk)
    version_b = ruleset.current_ruleset_version(account_id=b.pk)
    rule.name = "A rule, renamed"
    rule.save()
    reply = rule.replies.get()
    reply.content = "changed"
    reply.save()
    assert ruleset.current_ruleset_version(account_id=a.pk) > version_a
    assert ruleset.current_ruleset_version(account_id=b.pk) == version_b

    make_rule("every account", keywords=["y"])  # moves every account's version
    assert ruleset.current_ruleset_version(account_id=b.pk) > version_b


def test_a_rule_moved_to_another_account_moves_both_versions(two_accounts):
    a, b = two_accounts
    rule = make_rule("A rule", account=a, keywords=["x"])
    before = {
        account.pk: ruleset.current_ruleset_version(account_id=account.pk) for account in (a, b)
    }
    rule.account = b
    rule.save()
    for account in (a, b):
        assert ruleset.current_ruleset_version(account_id=account.pk) > before[account.pk]


def test_an_edit_in_one_account_rebuilds_no_other_accounts_index(account_a, account_b, rules):
    answer(account_a, "价格")
    answer(account_b, "价格")
    index_b = ruleset.get_rule_index(account_id=account_b.account_id)
    make_rule("A 新", account=account_a.account, keywords=["新"], text="A new")
    assert answer(account_a, "新")["Content"] == "A new"
    assert ruleset.get_rule_index(account_id=account_b.account_id) is index_b
    response = account_b.post(account_b.xml("text", Content="新"))
    assert response.content == b"success"


def test_the_tester_explains_the_choice_of_the_account_it_is_given(two_accounts, rules):
    a, b = two_accounts
    xml = build_message_xml(
        msg_type="text", from_user=OPENID, to_user="gh_x", create_time=1, Content="价格", MsgId=1
    )
    for account, name in ((a, "A 价格"), (b, "B 价格")):
        explained = explain_choice(parse_message(xml), account_id=account.pk, now=timezone.now())
        assert explained.winner.rule.name == name
        assert [match.rule.name for match, _active in explained.ranked] == [name]


def test_rule_conflicts_are_found_within_an_account_only(two_accounts):
    a, b = two_accounts
    rule_a = make_rule("A 价格", account=a, keywords=["价格"])
    make_rule("B 价格", account=b, keywords=["价格"])
    specs = ruleset.load_rule_specs()
    assert warnings_for(rule_a.pk, specs, now=timezone.localtime()) == []
    shared = make_rule("every 价格", keywords=["价格"])
    specs = ruleset.load_rule_specs()
    assert len(warnings_for(rule_a.pk, specs, now=timezone.localtime())) == 1
    assert len(warnings_for(shared.pk, specs, now=timezone.localtime())) == 2


def test_made_up_slugs_cost_one_account_query_per_staleness_bound(client, two_accounts, settings):
    """A scanner trying /wechat/<anything>/ gets its 404s from the slugs a worker read once,
    while a stored account added meanwhile in this process answers at once."""
    settings.WECHAT_RULES_MAX_STALENESS = 60
    table = Account._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        for number in range(20):
            response = client.post(f"/wechat/guess-{number}/", b"<xml/>", content_type="text/xml")
            assert response.status_code == 404
    assert sum(table in query["sql"] for query in queries.captured_queries) == 1

    values = {
        **ACCOUNT_A,
        "slug": "guess-20",
        "app_id": "wx0c0c0c0c0c0c0c0c",
        "original_id": "gh_cccccccccccc",
    }
    with TestCase.captureOnCommitCallbacks(execute=True):  # the admin's save, committed
        account = accounts_helpers.store_account(values)
    added = accounts_helpers.server_for(client, account, values)
    assert added.post(added.xml("text", Content="hi")).status_code == 200


def test_an_unknown_slug_with_a_flood_of_parameters_is_still_a_recorded_404(client, two_accounts):
    query = urlencode({f"p{number}": "x" for number in range(1_001)} | {"openid": "o_scan"})
    response = client.post(f"/wechat/guess/?{query}", data=b"<xml/>", content_type="text/xml")
    assert response.status_code == 404
    event = SecurityEvent.objects.get()
    assert (event.code, event.openid) == ("unknown_account", "")  # too many to parse: none read
