"""Staff see only their accounts, through every admin URL (issue 16): a member of account A with
every permission of the reply app (and the 客服 send permission) reaches none of B's messages,
conversations, exports, rules, outbox rows, security events or spool conflicts, and cannot make
a rule for B or for every account; a superuser sees both; a staff user of no account sees empty
pages, never a 500.
"""

import hashlib
import itertools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from accounts.models import Account
from replies.models import (
    Message,
    OutgoingMessage,
    ReplyRule,
    SecurityEvent,
    SpoolConflict,
)
from tests.accounts_helpers import (  # noqa: F401 - fixtures used by name
    account_a,
    account_b,
    secrets_key,
    two_accounts,
)
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

ADMIN = "/admin/replies/"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
OPENID_A = "oA_follower_of_shop_a_000000"
OPENID_B = "oB_follower_of_shop_b_000000"
_keys = itertools.count()


def message(account, openid, content, *, rule=None) -> Message:
    now = timezone.now()
    return Message.objects.create(
        account=account,
        dedup_key=hashlib.sha1(f"scope-{next(_keys)}".encode()).hexdigest(),
        to_user="gh_0123456789ab",
        openid=openid,
        msg_type="text",
        content=content,
        msg_id=str(24000000000000000 + next(_keys)),
        created_at=now,
        received_at=now,
        raw_xml="<xml/>",
        rule=rule,
        rule_name=rule.name if rule else "",
        reply_type="text" if rule else "",
    )


def outgoing(account, openid, text) -> OutgoingMessage:
    return OutgoingMessage.objects.create(
        account=account,
        openid=openid,
        kind="text",
        payload={"msgtype": "text", "text": {"content": text}},
        summary=text,
        status=OutgoingMessage.Status.FAILED,
        idempotency_key=f"scope-{next(_keys)}",
    )


def security_event(account, ip) -> SecurityEvent:
    return SecurityEvent.objects.create(
        account=account, code="invalid_signature", status=403, reason="x", method="POST", ip=ip
    )


def spool_conflict(account, name) -> SpoolConflict:
    return SpoolConflict.objects.create(
        account=account,
        kind="dedup_key",
        file_name=name,
        dedup_key=name[:40],
        spooled_xml="<xml/>",
    )


@pytest.fixture
def data():
    """Accounts A and B (and C), each with its rows; the environment account closed to staff who
    are not its members, as the README says to do once there are several accounts."""
    Account.objects.filter(from_environment=True).update(all_staff=False)
    a = Account.objects.create(name="商城A", slug="shop-a")
    b = Account.objects.create(name="商城B", slug="shop-b")
    c = Account.objects.create(name="商城C", slug="shop-c")
    rule_a = make_rule("甲规则", keywords=["价格"], text="A 的价格", account=a)
    rule_b = make_rule("乙规则", keywords=["价格"], text="B 的价格", account=b)
    shared = make_rule("共同规则", keywords=["你好"], text="您好")
    return {
        "a": a,
        "b": b,
        "c": c,
        "rule_a": rule_a,
        "rule_b": rule_b,
        "shared": shared,
        "message_a": message(a, OPENID_A, "甲的问题", rule=shared),
        "message_b": message(b, OPENID_B, "乙的问题", rule=shared),
        "out_a": outgoing(a, OPENID_A, "甲的回复"),
        "out_b": outgoing(b, OPENID_B, "乙的回复"),
        "event_a": security_event(a, "198.51.100.1"),
        "event_b": security_event(b, "198.51.100.2"),
        "event_none": security_event(None, "198.51.100.3"),
        "conflict_a": spool_conflict(a, "aaaa-conflict.json"),
        "conflict_b": spool_conflict(b, "bbbb-conflict.json"),
        "conflict_none": spool_conflict(None, "nnnn-conflict.json"),
    }


def staff_user(username, *accounts) -> User:
    """A staff user with every permission of the reply app (send included), member of
    `accounts`."""
    user = User.objects.create_user(username, password="a-long-password-8Kq2", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="replies"))
    for account in accounts:
        account.members.add(user)
    return user


@pytest.fixture
def member_a(client, data):
    client.force_login(staff_user("member-a", data["a"]))
    return client


def text(response) -> str:
    return response.content.decode()


# --- messages ------------------------------------------------------------------------------


def test_another_accounts_message_is_404_on_every_url(member_a, data):
    mine, theirs = data["message_a"], data["message_b"]
    assert member_a.get(f"{ADMIN}message/{mine.pk}/change/").status_code == 200
    for suffix in ("change/", "history/", "delete/"):
        assert member_a.get(f"{ADMIN}message/{theirs.pk}/{suffix}").status_code in (404, 403)
    # Change and history are 404: the same answer as an id that never existed.
    assert member_a.get(f"{ADMIN}message/{theirs.pk}/change/").status_code == 404
    assert member_a.get(f"{ADMIN}message/{theirs.pk}/history/").status_code == 404
    assert member_a.get(f"{ADMIN}message/999999999/change/").status_code == 404


def test_the_list_and_the_export_hold_only_the_users_accounts(member_a, data):
    listing = text(member_a.get(f"{ADMIN}message/", **ZH))
    assert OPENID_A[:14] in listing and OPENID_B[:14] not in listing
    assert "甲的问题" in listing and "乙的问题" not in listing
    export = b"".join(member_a.get(f"{ADMIN}message/export.csv").streaming_content).decode()
    assert OPENID_A in export and OPENID_B not in export
    # One account: no account column, no account filter.
    assert "商城A" not in listing and "?account=" not in listing
    assert export.splitlines()[0].rstrip().endswith("handling_ms")


@pytest.mark.parametrize(
    "query",
    [
        "account={b}",
        "account__id__exact={b}",
        "account__exact={b}",
        "account_id={b}",
        "account__slug=shop-b",
        "account__name__contains=B",
        "account__in={b}",
    ],
)
def test_lookups_naming_another_account_never_show_its_rows(member_a, data, query):
    query = query.format(b=data["b"].pk)
    for url in (f"{ADMIN}message/", f"{ADMIN}outgoingmessage/", f"{ADMIN}replyrule/"):
        response = member_a.get(f"{url}?{query}")
        assert response.status_code in (302, 400), (url, query, response.status_code)
        assert OPENID_B not in text(response) and "乙规则" not in text(response)
    export = member_a.get(f"{ADMIN}message/export.csv?{query}")
    assert export.status_code == 400


def test_a_user_of_several_accounts_gets_the_column_and_a_filter_of_theirs_only(client, data):
    client.force_login(staff_user("member-ac", data["a"], data["c"]))
    listing = text(client.get(f"{ADMIN}message/", **ZH))
    assert "公众号" in listing  # the column and the filter's title
    assert f"?account={data['a'].pk}" in listing and f"?account={data['c'].pk}" in listing
    assert f"?account={data['b'].pk}" not in listing and "商城B" not in listing
    assert "商城A" in listing  # the column names each row's account
    # Filtering by an account offered works; by B, Django's "wacky parameters" redirect.
    assert OPENID_A[:14] in text(client.get(f"{ADMIN}message/?account={data['a'].pk}"))
    refused = client.get(f"{ADMIN}message/?account={data['b'].pk}")
    assert refused.status_code == 302 and refused["Location"].endswith("?e=1")
    assert client.get(f"{ADMIN}message/export.csv?account={data['b'].pk}").status_code == 400
    assert client.get(f"{ADMIN}message/?account=nonsense").status_code == 302
    export = b"".join(client.get(f"{ADMIN}message/export.csv").streaming_content).decode()
    assert export.splitlines()[0].rstrip().endswith(",account") and "商城A" in export
    thread = client.get(f"{ADMIN}message/conversation/", {"openid": OPENID_A}, **ZH)
    assert '<p id="conversation-account">公众号: 商城A</p>' in text(thread)
    rules = text(client.get(f"{ADMIN}replyrule/", **ZH))
    assert "所有公众号" in rules  # the every-account rule says so in the account column


def test_another_accounts_follower_has_no_conversation_and_cannot_be_answered(member_a, data):
    url = f"{ADMIN}message/conversation/"
    assert member_a.get(url, {"openid": OPENID_A}).status_code == 200
    theirs = member_a.get(url, {"openid": OPENID_B})
    assert theirs.status_code == 404 and "乙的问题" not in text(theirs)
    centred = member_a.get(url, {"openid": OPENID_A, "message": data["message_b"].pk})
    assert centred.status_code == 404
    reply = member_a.post(
        f"{ADMIN}message/{data['message_b'].pk}/reply/",
        {"kind": "text", "content": "hi", "token": "0" * 32},
    )
    assert reply.status_code == 404
    assert not OutgoingMessage.objects.filter(openid=OPENID_B, summary="hi").exists()


def test_the_conversation_leaves_out_what_another_account_sent(member_a, data):
    # The same OpenID on two accounts (it cannot happen in WeChat; the scope must hold anyway).
    message(data["b"], OPENID_A, "乙账号的同名消息")
    outgoing(data["b"], OPENID_A, "乙账号的同名回复")
    page = text(member_a.get(f"{ADMIN}message/conversation/", {"openid": OPENID_A}))
    assert "甲的问题" in page and "甲的回复" in page
    assert "乙账号的同名消息" not in page and "乙账号的同名回复" not in page


# --- the outbox ----------------------------------------------------------------------------


def test_another_accounts_outbox_row_is_404_and_cannot_be_resent(member_a, data):
    mine, theirs = data["out_a"], data["out_b"]
    listing = text(member_a.get(f"{ADMIN}outgoingmessage/"))
    assert "甲的回复" in listing and "乙的回复" not in listing
    assert member_a.get(f"{ADMIN}outgoingmessage/{theirs.pk}/change/").status_code == 404
    response = member_a.post(
        f"{ADMIN}outgoingmessage/",
        {"action": "resend_selected", "_selected_action": [theirs.pk, mine.pk]},
    )
    assert response.status_code == 302
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.status == OutgoingMessage.Status.FAILED
    assert mine.status == OutgoingMessage.Status.PENDING


# --- security events and spool conflicts ---------------------------------------------------


def test_security_events_of_other_accounts_and_of_none_are_not_listed(member_a, data):
    listing = text(member_a.get(f"{ADMIN}securityevent/"))
    assert "198.51.100.1" in listing
    assert "198.51.100.2" not in listing and "198.51.100.3" not in listing
    for event in (data["event_b"], data["event_none"]):
        assert member_a.get(f"{ADMIN}securityevent/{event.pk}/change/").status_code == 404
    assert member_a.get(f"{ADMIN}securityevent/{data['event_a'].pk}/change/").status_code == 200


def test_spool_conflicts_of_other_accounts_and_of_none_are_not_listed(member_a, data):
    listing = text(member_a.get(f"{ADMIN}spoolconflict/"))
    assert "aaaa-conflict.json" in listing
    assert "bbbb-conflict.json" not in listing and "nnnn-conflict.json" not in listing
    for conflict in (data["conflict_b"], data["conflict_none"]):
        assert member_a.get(f"{ADMIN}spoolconflict/{conflict.pk}/change/").status_code == 404


# --- rules ---------------------------------------------------------------------------------


def rule_post(account, name="新规则", **changes) -> dict:
    data = {
        "account": "" if account is None else str(account.pk),
        "name": name,
        "enabled": "on",
        "priority": "0",
        "reply_mode": "first",
        "triggers-TOTAL_FORMS": "1",
        "triggers-INITIAL_FORMS": "0",
        "triggers-MIN_NUM_FORMS": "1",
        "triggers-MAX_NUM_FORMS": "200",
        "triggers-0-kind": "keyword",
        "triggers-0-match": "exact",
        "triggers-0-value": "新词",
        "replies-TOTAL_FORMS": "1",
        "replies-INITIAL_FORMS": "0",
        "replies-MIN_NUM_FORMS": "1",
        "replies-MAX_NUM_FORMS": "1000",
        "replies-0-reply_type": "text",
        "replies-0-position": "0",
        "replies-0-content": "新回复",
    }
    return data | changes


def test_the_rule_list_shows_the_users_accounts_rules_and_the_every_account_ones(member_a, data):
    listing = text(member_a.get(f"{ADMIN}replyrule/", **ZH))
    assert "甲规则" in listing and "共同规则" in listing and "乙规则" not in listing


def test_the_every_account_rules_hits_count_only_the_users_accounts(member_a, data):
    listing = member_a.get(f"{ADMIN}replyrule/")
    shared = next(row for row in listing.context["cl"].result_list if row.name == "共同规则")
    assert shared.hit_count == 1  # A's message; B's is not counted for a member of A


def test_another_accounts_rule_is_404_to_change_delete_or_read_its_history(member_a, data):
    theirs = data["rule_b"]
    for suffix in ("change/", "delete/", "history/"):
        assert member_a.get(f"{ADMIN}replyrule/{theirs.pk}/{suffix}").status_code == 404
    deleted = member_a.post(f"{ADMIN}replyrule/{theirs.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 404
    response = member_a.post(f"{ADMIN}replyrule/{theirs.pk}/change/", rule_post(data["a"]))
    assert response.status_code == 404
    assert ReplyRule.objects.filter(pk=theirs.pk, account=data["b"]).exists()


def test_a_rule_for_another_account_or_for_every_account_is_refused(member_a, data):
    form = text(member_a.get(f"{ADMIN}replyrule/add/", **ZH))
    assert "商城A" in form and "商城B" not in form and ">所有公众号</option>" not in form
    response = member_a.post(f"{ADMIN}replyrule/add/", rule_post(data["b"]), **ZH)
    assert response.status_code == 200 and "商城B" not in text(response)
    response = member_a.post(f"{ADMIN}replyrule/add/", rule_post(None), **ZH)
    assert response.status_code == 200 and "只有超级用户" in text(response)
    assert not ReplyRule.objects.filter(name="新规则").exists()
    response = member_a.post(f"{ADMIN}replyrule/add/", rule_post(data["a"]))
    assert response.status_code == 302
    assert ReplyRule.objects.get(name="新规则").account == data["a"]


def test_an_every_account_rule_is_read_only_for_a_member(member_a, data):
    shared = data["shared"]
    page = member_a.get(f"{ADMIN}replyrule/{shared.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in text(page)
    changed = member_a.post(f"{ADMIN}replyrule/{shared.pk}/change/", rule_post(None))
    assert changed.status_code == 403
    assert member_a.get(f"{ADMIN}replyrule/{shared.pk}/delete/").status_code == 403
    # Nor through the list's boxes, nor by an action.
    for action in ("disable_rules", "duplicate_rules"):
        member_a.post(
            f"{ADMIN}replyrule/",
            {"action": action, "_selected_action": [shared.pk, data["rule_b"].pk]},
        )
    shared.refresh_from_db()
    data["rule_b"].refresh_from_db()
    assert shared.enabled and data["rule_b"].enabled
    assert ReplyRule.objects.filter(account__isnull=True).count() == 1
    assert ReplyRule.objects.filter(account=data["b"]).count() == 1


def test_delete_selected_refuses_a_selection_holding_an_every_account_rule(member_a, data):
    selection = {"action": "delete_selected", "_selected_action": [data["shared"].pk]}
    selection["_selected_action"].append(data["rule_a"].pk)
    confirm = member_a.post(f"{ADMIN}replyrule/", selection, **ZH)
    assert confirm.status_code == 200 and "所有公众号" in text(confirm)
    response = member_a.post(f"{ADMIN}replyrule/", {**selection, "post": "yes"})
    assert response.status_code == 403
    assert ReplyRule.objects.filter(pk__in=[data["shared"].pk, data["rule_a"].pk]).count() == 2
    # B's rule in the selection selects nothing: only A's is deleted.
    selection = {"action": "delete_selected", "post": "yes"}
    selection["_selected_action"] = [data["rule_a"].pk, data["rule_b"].pk]
    assert member_a.post(f"{ADMIN}replyrule/", selection).status_code == 302
    assert not ReplyRule.objects.filter(pk=data["rule_a"].pk).exists()
    assert ReplyRule.objects.filter(pk=data["rule_b"].pk).exists()


def test_a_superuser_filters_by_account_and_by_none(admin_client, data):
    rules = admin_client.get(f"{ADMIN}replyrule/?account=every")
    assert [rule.name for rule in rules.context["cl"].result_list] == ["共同规则"]
    rules = admin_client.get(f"{ADMIN}replyrule/?account={data['b'].pk}")
    assert [rule.name for rule in rules.context["cl"].result_list] == ["乙规则"]
    events = admin_client.get(f"{ADMIN}securityevent/?account=none")
    assert [event.ip for event in events.context["cl"].result_list] == ["198.51.100.3"]
    assert admin_client.get(f"{ADMIN}message/?account=none").status_code == 302  # not offered


def test_the_lists_boxes_cannot_change_an_every_account_rule(member_a, data):
    listing = member_a.get(f"{ADMIN}replyrule/")
    rows = list(listing.context["cl"].result_list)
    post = {
        "form-TOTAL_FORMS": str(len(rows)),
        "form-INITIAL_FORMS": str(len(rows)),
        "_save": "保存",
    }
    for number, rule in enumerate(rows):
        post[f"form-{number}-id"] = str(rule.pk)
        post[f"form-{number}-priority"] = "99"  # "enabled" left out: unticked
    response = member_a.post(f"{ADMIN}replyrule/", post)
    assert response.status_code == 302
    data["shared"].refresh_from_db()
    data["rule_a"].refresh_from_db()
    assert data["shared"].priority == 0 and data["shared"].enabled
    assert data["rule_a"].priority == 99 and not data["rule_a"].enabled


def test_the_list_boxes_cannot_reach_another_accounts_rule(member_a, data):
    theirs = data["rule_b"]
    post = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(theirs.pk),
        "form-0-priority": "99",
        "_save": "保存",
    }
    member_a.post(f"{ADMIN}replyrule/", post)
    theirs.refresh_from_db()
    assert theirs.priority == 0 and theirs.enabled


# --- the rule tester -----------------------------------------------------------------------


def test_the_tester_answers_with_the_users_account_and_refuses_another(member_a, data):
    url = f"{ADMIN}replyrule/tester/"
    mine = member_a.get(url, {"msg_type": "text", "text": "价格", "account": data["a"].pk}, **ZH)
    assert mine.status_code == 200 and "A 的价格" in text(mine) and "乙规则" not in text(mine)
    # No account named: the user's first one.
    default = member_a.get(url, {"msg_type": "text", "text": "价格"})
    assert "A 的价格" in text(default)
    theirs = member_a.get(url, {"msg_type": "text", "text": "价格", "account": data["b"].pk}, **ZH)
    assert theirs.status_code == 200
    assert "B 的价格" not in text(theirs) and "乙规则" not in text(theirs)
    assert theirs.context["result"] is None and "account" in theirs.context["form"].errors
    assert "商城B" not in text(theirs)


# --- a superuser, and staff of no account ---------------------------------------------------


def test_a_superuser_sees_both_accounts(admin_client, data):
    listing = text(admin_client.get(f"{ADMIN}message/", **ZH))
    assert OPENID_A[:14] in listing and OPENID_B[:14] in listing and "商城B" in listing
    assert admin_client.get(f"{ADMIN}message/{data['message_b'].pk}/change/").status_code == 200
    events = text(admin_client.get(f"{ADMIN}securityevent/"))
    assert "198.51.100.2" in events and "198.51.100.3" in events
    conflicts = text(admin_client.get(f"{ADMIN}spoolconflict/"))
    assert "bbbb-conflict.json" in conflicts and "nnnn-conflict.json" in conflicts
    rules = text(admin_client.get(f"{ADMIN}replyrule/", **ZH))
    assert "甲规则" in rules and "乙规则" in rules and "共同规则" in rules
    form = text(admin_client.get(f"{ADMIN}replyrule/add/", **ZH))
    assert ">所有公众号</option>" in form and "商城B" in form
    response = admin_client.post(f"{ADMIN}replyrule/add/", rule_post(None, name="全体规则"))
    assert response.status_code == 302
    assert ReplyRule.objects.get(name="全体规则").account is None
    tester = admin_client.get(
        f"{ADMIN}replyrule/tester/", {"msg_type": "text", "text": "价格", "account": data["b"].pk}
    )
    assert "B 的价格" in text(tester)


def test_staff_of_no_account_see_empty_pages(client, data):
    client.force_login(staff_user("nobody"))
    for url in ("message/", "outgoingmessage/", "securityevent/", "spoolconflict/"):
        response = client.get(f"{ADMIN}{url}", **ZH)
        assert response.status_code == 200, url
        assert response.context["cl"].result_count == 0, url
    rules = client.get(f"{ADMIN}replyrule/", **ZH)
    assert [rule.name for rule in rules.context["cl"].result_list] == ["共同规则"]
    export = b"".join(client.get(f"{ADMIN}message/export.csv").streaming_content).decode()
    assert len(export.splitlines()) == 1
    conversation = client.get(f"{ADMIN}message/conversation/", {"openid": OPENID_A})
    assert conversation.status_code == 404
    tester = client.get(f"{ADMIN}replyrule/tester/", {"msg_type": "text", "text": "价格"}, **ZH)
    assert tester.status_code == 200 and tester.context["result"] is None
    assert client.get(f"{ADMIN}replyrule/add/", **ZH).status_code == 200
    refused = client.post(f"{ADMIN}replyrule/add/", rule_post(None))
    assert refused.status_code == 200 and not ReplyRule.objects.filter(name="新规则").exists()


def test_an_old_message_keeps_its_account_scope_when_paged(member_a, data):
    # Paging cursors (before/after) of another account's row are a 404, not its neighbours.
    older = message(data["a"], OPENID_A, "更早的问题")
    older.received_at = timezone.now() - timedelta(days=1)
    older.save(update_fields=["received_at"])
    url = f"{ADMIN}message/conversation/"
    page = member_a.get(url, {"openid": OPENID_A, "before": data["message_a"].pk})
    assert page.status_code == 200 and "更早的问题" in text(page)
    theirs = member_a.get(url, {"openid": OPENID_A, "before": data["message_b"].pk})
    assert theirs.status_code == 404


# --- end to end: messages to each account's URL, read in the admin --------------------------


def test_messages_to_each_accounts_url_are_seen_by_that_accounts_staff_only(
    client,
    account_a,  # noqa: F811 - fixtures
    account_b,  # noqa: F811
):
    a, b = account_a.account, account_b.account
    make_rule("甲的营业时间", keywords=["营业"], text="A 九点开门", account=a)
    make_rule("乙的营业时间", keywords=["营业"], text="B 十点开门", account=b)
    for server, openid in ((account_a, OPENID_A), (account_b, OPENID_B)):
        response = server.post(server.xml("text", openid=openid, Content="营业"))
        assert response.status_code == 200
    client.force_login(staff_user("member-of-a", a))
    listing = text(client.get(f"{ADMIN}message/", **ZH))
    assert OPENID_A[:14] in listing and OPENID_B[:14] not in listing
    assert "甲的营业时间" in listing and "乙的营业时间" not in listing
    thread = text(client.get(f"{ADMIN}message/conversation/", {"openid": OPENID_A}))
    assert "A 九点开门" in thread
    assert client.get(f"{ADMIN}message/conversation/", {"openid": OPENID_B}).status_code == 404
    # The tester answers as A's URL did.
    query = {"msg_type": "text", "text": "营业", "account": a.pk}
    tester = client.get(f"{ADMIN}replyrule/tester/", query)
    assert "A 九点开门" in text(tester) and "B 十点开门" not in text(tester)
