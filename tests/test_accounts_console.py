"""The custom menu and the outbox per official account (issue 16), through the admin's URLs.

Two stored accounts, A and B, each with its own AppID and AppSecret; the fake WeChat API serves
both over real HTTP and keeps a menu, tokens and followers per AppID, so each test can prove
that what was done for A never reached B. The operator is a staff member of A only, with every
permission of the menu (and of the reply app): B's menu, publications and drafts are 404 to
them through every URL, like ids that never existed.
"""

import re

import httpx
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache

from accounts.models import Account
from console.groups import MENU_EDITORS
from console.menus import draft_body, publish_menu, save_draft
from console.models import MenuButton, MenuPublication
from replies.models import Message, OutgoingMessage, ReplyRule
from tests.accounts_helpers import (  # noqa: F401 - fixtures used by name
    ACCOUNT_A,
    ACCOUNT_B,
    account_a,
    account_b,
    secrets_key,
    two_accounts,
)
from tests.factories import make_rule
from tests.outbound_helpers import CUSTOM_SEND, run_worker
from wechat_api.fake import FakeWeChatAPI

pytestmark = pytest.mark.django_db

EDITOR = "/admin/console/menubutton/"
IMPORT = "/admin/console/menubutton/import/"
HISTORY = "/admin/console/menupublication/"
RULE_ADD = "/admin/replies/replyrule/add/"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
FIELDS = ("name", "type", "key", "url", "appid", "pagepath", "article_id")
TOKEN_PATH = "/cgi-bin/stable_token"
OPENID_A = "oA_follower_of_shop_a_000000"
OPENID_B = "oB_follower_of_news_b_000000"

MENU_A = {
    "button": [
        {"type": "click", "name": "A商品", "key": "A_GOODS"},
        {"type": "click", "name": "共同帮助", "key": "SHARED_HELP"},
    ]
}
MENU_B = {"button": [{"type": "click", "name": "B新闻", "key": "B_NEWS"}]}


@pytest.fixture
def fake(settings, two_accounts):  # noqa: F811 - the fixture imported above
    """The fake API serving the environment account and both stored accounts."""
    with FakeWeChatAPI(app_id="wx_fake_environment", app_secret="environment-secret") as server:
        for values in (ACCOUNT_A, ACCOUNT_B):
            server.add_app(values["app_id"], values["app_secret"])
        settings.WECHAT_API_BASE = server.url
        settings.WECHAT_APP_ID = "wx_fake_environment"
        settings.WECHAT_APP_SECRET = "environment-secret"
        settings.WECHAT_API_TIMEOUT = 2
        cache.clear()
        yield server
    cache.clear()


@pytest.fixture
def accounts(two_accounts):  # noqa: F811
    # The environment account closed to staff who are not its members, as the README says to
    # do once there are several accounts: a member of A sees A only.
    Account.objects.filter(from_environment=True).update(all_staff=False)
    return two_accounts


def staff_of(client, username, *accounts, superuser=False):
    """Log in a staff user with every menu and reply-app permission, member of `accounts`."""
    if superuser:
        user = User.objects.create_superuser(username, password="a-long-password-8Kq2")
    else:
        user = User.objects.create_user(username, password="a-long-password-8Kq2", is_staff=True)
        user.groups.add(Group.objects.get(name=MENU_EDITORS))
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="replies"))
    for account in accounts:
        account.members.add(user)
    client.force_login(user)
    return client


@pytest.fixture
def member_a(client, accounts):
    return staff_of(client, "member-a", accounts[0])


def form_data(body, **changes):
    """POST data of the editor's grid for a menu/create body."""
    data = {}
    buttons = body["button"]
    for number in range(3):
        button = buttons[number] if number < len(buttons) else {}
        data |= {f"b{number}-{name}": button.get(name, "") for name in FIELDS}
        subs = button.get("sub_button") or []
        for sub_number in range(5):
            sub = subs[sub_number] if sub_number < len(subs) else {}
            data |= {f"b{number}s{sub_number}-{name}": sub.get(name, "") for name in FIELDS}
    return data | changes


def token_calls(fake) -> list[str]:
    """Return the AppID each stable_token call asked for, in order."""
    return [call["app_id"] for call in fake.calls_to(TOKEN_PATH)]


# --- the fake API keeps each app apart -----------------------------------------------------


def test_the_fake_keeps_a_menu_and_tokens_per_app(fake):
    with httpx.Client(base_url=fake.url, timeout=5, trust_env=False) as http:

        def token(values):
            body = {
                "grant_type": "client_credential",
                "appid": values["app_id"],
                "secret": values["app_secret"],
            }
            return http.post(TOKEN_PATH, json=body).json()["access_token"]

        token_a, token_b = token(ACCOUNT_A), token(ACCOUNT_B)
        assert token_a != token_b
        created = http.post("/cgi-bin/menu/create", params={"access_token": token_a}, json=MENU_A)
        assert created.json()["errcode"] == 0
        menu_b = http.get("/cgi-bin/menu/get", params={"access_token": token_b}).json()
        assert menu_b["errcode"] == 46003  # B has no menu: A's went to A only
        wrong_secret = {**ACCOUNT_B, "app_secret": ACCOUNT_A["app_secret"]}
        assert http.post(
            TOKEN_PATH,
            json={"grant_type": "client_credential", "appid": wrong_secret["app_id"],
                  "secret": wrong_secret["app_secret"]},
        ).json()["errcode"] == 40125  # fmt: skip
    assert fake.app(ACCOUNT_A["app_id"]).menu == MENU_A
    assert fake.app(ACCOUNT_B["app_id"]).menu is None and fake.menu is None
    fake.invalidate_tokens(app_id=ACCOUNT_A["app_id"])
    with httpx.Client(base_url=fake.url, timeout=5, trust_env=False) as http:
        assert (
            http.get("/cgi-bin/menu/get", params={"access_token": token_a}).json()["errcode"]
            == 40001
        )
        assert http.get("/cgi-bin/menu/get", params={"access_token": token_b}).json()[
            "errcode"
        ] == 46003  # fmt: skip


# --- the editor -----------------------------------------------------------------------------


def test_the_editor_shows_the_members_account_and_404s_any_other(member_a, accounts):
    a, b = accounts
    save_draft(MENU_A, account=a)
    save_draft(MENU_B, account=b)

    page = member_a.get(EDITOR, **ZH)
    assert page.status_code == 200
    text = page.content.decode()
    assert "A商品" in text and "B新闻" not in text
    assert 'id="console-account"' not in text  # one account: no selector
    assert member_a.get(f"{EDITOR}?account={a.pk}").status_code == 200
    for value in (str(b.pk), "999999", "abc", "", "-1", "１"):
        assert member_a.get(EDITOR, {"account": value}).status_code == 404, value
        assert member_a.get(IMPORT, {"account": value}).status_code == 404, value


def test_a_user_of_several_accounts_chooses_among_theirs_only(client, accounts):
    a, b = accounts
    save_draft(MENU_B, account=b)
    staff_of(client, "member-ab", a, b)

    page = client.get(EDITOR, {"account": b.pk}, **ZH).content.decode()

    assert 'id="console-account"' in page and "B新闻" in page
    options = re.findall(r'<option value="(\d+)"', page.split('id="console-account"')[1])
    assert options == [str(a.pk), str(b.pk)]  # not the environment account: not theirs
    assert f"{IMPORT}?account={b.pk}" in page
    assert f"{HISTORY}?account={b.pk}" in page


def test_publishing_for_a_uses_as_app_id_and_never_touches_b(member_a, accounts, fake):
    a, b = accounts

    response = member_a.post(f"{EDITOR}?account={a.pk}", form_data(MENU_A, _publish="1"))

    assert response.status_code == 302
    assert fake.app(ACCOUNT_A["app_id"]).menu == MENU_A
    assert fake.app(ACCOUNT_B["app_id"]).menu is None and fake.menu is None
    assert set(token_calls(fake)) == {ACCOUNT_A["app_id"]}
    publication = MenuPublication.objects.get()
    assert (publication.account, publication.ok) == (a, True)
    assert draft_body(a) == MENU_A and draft_body(b) == {"button": []}


def test_a_member_of_a_cannot_save_publish_or_import_bs_menu(member_a, accounts, fake):
    a, b = accounts
    fake.app(ACCOUNT_B["app_id"]).menu = MENU_B

    saved = member_a.post(f"{EDITOR}?account={b.pk}", form_data(MENU_A, _save="1"))
    published = member_a.post(f"{EDITOR}?account={b.pk}", form_data(MENU_A, _publish="1"))
    imported = member_a.post(f"{IMPORT}?account={b.pk}")

    assert (saved.status_code, published.status_code, imported.status_code) == (404, 404, 404)
    assert fake.calls == []
    assert not MenuButton.objects.exists() and not MenuPublication.objects.exists()
    assert fake.app(ACCOUNT_B["app_id"]).menu == MENU_B


def test_importing_reads_the_chosen_accounts_live_menu_into_its_draft(member_a, accounts, fake):
    a, b = accounts
    save_draft(MENU_B, account=b)
    fake.app(ACCOUNT_A["app_id"]).menu = MENU_A
    fake.app(ACCOUNT_B["app_id"]).menu = {"button": [{"type": "click", "name": "别的", "key": "X"}]}

    preview = member_a.get(IMPORT, **ZH)
    imported = member_a.post(IMPORT)

    assert preview.status_code == 200 and "A商品" in preview.content.decode()
    assert imported.status_code == 302
    assert draft_body(a) == MENU_A and draft_body(b) == MENU_B
    assert set(token_calls(fake)) == {ACCOUNT_A["app_id"]}


# --- the history ------------------------------------------------------------------------------


def test_bs_publications_are_404_and_cannot_be_published_again_or_copied(member_a, accounts, fake):
    a, b = accounts
    mine = publish_menu(MENU_A, account=a)
    theirs = publish_menu(MENU_B, account=b)
    fake.reset()

    listing = member_a.get(HISTORY, **ZH).content.decode()
    assert f"{HISTORY}{mine.pk}/change/" in listing
    assert f"{HISTORY}{theirs.pk}/change/" not in listing
    assert member_a.get(f"{HISTORY}{mine.pk}/change/").status_code == 200
    for suffix in ("change/", "history/"):
        assert member_a.get(f"{HISTORY}{theirs.pk}/{suffix}").status_code == 404
    for action in ("republish/", "restore/"):
        assert member_a.post(f"{HISTORY}{theirs.pk}/{action}").status_code == 404
    # A lookup naming B's account shows none of its rows.
    for query in (f"account={b.pk}", f"account__id__exact={b.pk}", "account__slug=news-b"):
        response = member_a.get(f"{HISTORY}?{query}")
        assert response.status_code in (302, 400), query
        assert f"{HISTORY}{theirs.pk}/change/" not in response.content.decode()
    assert fake.calls == []
    assert not MenuButton.objects.exists()
    assert MenuPublication.objects.count() == 2


def test_republishing_an_older_version_goes_to_its_own_account(client, accounts, fake):
    a, b = accounts
    older = publish_menu(MENU_B, account=b)
    publish_menu({"button": [{"type": "click", "name": "新版", "key": "NEW"}]}, account=b)
    staff_of(client, "root", superuser=True)

    response = client.post(f"{HISTORY}{older.pk}/republish/", {"next": HISTORY})

    assert response.status_code == 302
    assert response["Location"] == f"{HISTORY}?account={b.pk}"  # a superuser sees several
    assert fake.app(ACCOUNT_B["app_id"]).menu == MENU_B
    assert fake.app(ACCOUNT_A["app_id"]).menu is None
    again = MenuPublication.objects.order_by("-pk").first()
    assert (again.account, again.republished_from, again.ok) == (b, older, True)
    restored = client.post(f"{HISTORY}{older.pk}/restore/")
    assert restored["Location"] == f"{EDITOR}?account={b.pk}"
    assert draft_body(b) == MENU_B and draft_body(a) == {"button": []}


# --- menu keys and rules ----------------------------------------------------------------------


def test_key_warnings_count_the_accounts_rules_and_the_every_account_ones(member_a, accounts):
    a, b = accounts
    save_draft(MENU_A, account=a)
    make_rule("共同", triggers=[("click", "SHARED_HELP", "exact")], text="帮助", account=None)
    make_rule(
        "B的商品", triggers=[("click", "A_GOODS", "exact")], text="B 的", account=b
    )  # answers on B only
    make_rule("A的旧键", triggers=[("click", "A_OLD", "exact")], text="旧", account=a)
    make_rule("B的旧键", triggers=[("click", "B_OLD", "exact")], text="旧", account=b)

    page = member_a.get(EDITOR, **ZH).content.decode()
    warnings = page.split('class="console-warnings"')[1].split("</div>")[0]

    assert "<code>A_GOODS</code>" in warnings  # B's rule does not answer A's followers
    assert "SHARED_HELP" not in warnings  # the every-account rule does
    assert "A_OLD" in warnings and "B_OLD" not in warnings and "B的旧键" not in warnings
    assert f"menu_key=A_GOODS&amp;account={a.pk}" not in warnings  # one account: no parameter


def test_the_rule_form_suggests_the_keys_of_the_users_accounts_only(member_a, accounts):
    a, b = accounts
    save_draft(MENU_A, account=a)
    save_draft(MENU_B, account=b)

    page = member_a.get(RULE_ADD).content.decode()
    started = member_a.get(RULE_ADD, {"menu_key": "A_GOODS"}).content.decode()
    refused = member_a.get(RULE_ADD, {"menu_key": "B_NEWS", "account": b.pk}).content.decode()

    assert 'value="A_GOODS"' in page and "B_NEWS" not in page
    assert 'value="A商品"' in started  # the rule's name from A's button
    assert "B新闻" not in refused and 'value="B_NEWS"' not in refused
    theirs = ReplyRule.objects.create(name="B的规则", account=b)
    assert member_a.get(f"/admin/replies/replyrule/{theirs.pk}/change/").status_code == 404


# --- the outbox sends as the follower's account -----------------------------------------------


@pytest.fixture
def followers(fake):
    fake.set_last_message(OPENID_A, app_id=ACCOUNT_A["app_id"])
    fake.set_last_message(OPENID_B, app_id=ACCOUNT_B["app_id"])
    return fake


def sent_to(fake, values) -> list[str]:
    return [message["text"]["content"] for message in fake.app(values["app_id"]).sent]


@pytest.mark.django_db(transaction=True)
def test_reply_all_follow_ups_go_out_with_each_accounts_own_app_id(
    account_a,  # noqa: F811
    account_b,  # noqa: F811
    followers,
):
    make_rule(
        "全部回复",
        keywords=["营业"],
        reply_mode=ReplyRule.ReplyMode.ALL,
        replies=[{"reply_type": "text", "content": text} for text in ("一", "二", "三")],
    )

    account_a.post(account_a.xml("text", openid=OPENID_A, Content="营业"))
    account_b.post(account_b.xml("text", openid=OPENID_B, Content="营业"))
    run_worker()

    assert sent_to(followers, ACCOUNT_A) == ["二", "三"]
    assert sent_to(followers, ACCOUNT_B) == ["二", "三"]
    assert followers.sent == []  # nothing as the environment account
    sends = followers.calls_to(CUSTOM_SEND)
    by_app = {(call["app_id"], call["body"]["touser"]) for call in sends}
    assert by_app == {(ACCOUNT_A["app_id"], OPENID_A), (ACCOUNT_B["app_id"], OPENID_B)}
    rows = OutgoingMessage.objects.order_by("id")
    assert {(row.openid, row.account.slug) for row in rows} == {
        (OPENID_A, ACCOUNT_A["slug"]),
        (OPENID_B, ACCOUNT_B["slug"]),
    }


def test_a_staff_reply_to_bs_follower_is_sent_as_b(client, account_b, followers):  # noqa: F811
    b = Account.objects.get(slug=ACCOUNT_B["slug"])
    account_b.post(account_b.xml("text", openid=OPENID_B, Content="你们周末营业吗？"))
    question = Message.objects.get(content="你们周末营业吗？")
    assert question.account == b
    staff_of(client, "agent-b", b)
    page = client.get("/admin/replies/message/conversation/", {"openid": OPENID_B})
    token = re.search(rb'name="token" value="([0-9a-f]{32})"', page.content).group(1).decode()

    response = client.post(
        f"/admin/replies/message/{question.pk}/reply/",
        {"kind": "text", "token": token, "content": "周末也营业。"},
    )

    assert response.status_code == 302
    assert sent_to(followers, ACCOUNT_B) == ["周末也营业。"]
    assert fake_sent_elsewhere(followers) == []
    assert set(token_calls(followers)) == {ACCOUNT_B["app_id"]}


def test_a_member_of_a_cannot_answer_bs_follower(client, accounts, account_b, followers):  # noqa: F811
    account_b.post(account_b.xml("text", openid=OPENID_B, Content="有人吗"))
    question = Message.objects.get(content="有人吗")
    staff_of(client, "agent-a", accounts[0])

    page = client.get(f"/admin/replies/message/{question.pk}/reply/")
    response = client.post(
        f"/admin/replies/message/{question.pk}/reply/",
        {"kind": "text", "token": "0" * 32, "content": "不该发出"},
    )

    assert page.status_code in (404, 405) and response.status_code == 404
    assert followers.calls == []


def fake_sent_elsewhere(fake) -> list:
    """Return what the fake sent as any app but B."""
    return [
        message
        for app_id, app in fake.apps.items()
        if app_id != ACCOUNT_B["app_id"]
        for message in app.sent
    ]


def test_a_stored_account_without_app_secret_is_named_before_any_call(fake, accounts):
    from wechat_api.errors import WeChatAPINotConfigured
    from wechat_api.from_django import client_for_account

    a, _b = accounts
    a.set_secret("app_secret", "")
    a.save()
    with pytest.raises(WeChatAPINotConfigured) as refused:
        client_for_account(a)
    assert a.name in refused.value.explanation and "AppSecret" in refused.value.explanation
    assert "WECHAT_APP_SECRET" not in refused.value.explanation  # the settings would not help
    assert fake.calls == []
