"""The commands with --account SLUG (issue 16): each acts on the account it names, with that
account's own credentials, and leaves every other account alone.

Two stored accounts, A and B, with different tokens, AppIDs, AES keys and AppSecrets. Calls to
WeChat go over real HTTP to the fake API, which serves both apps (and the environment's) and
records which AppID each call was made as; wxsend talks to a live server.
"""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Account
from console.menus import save_draft
from console.models import MenuPublication
from replies.models import Message, ReplyRule
from replies.rules import ruleset
from replies.rules.transfer import FORMAT, VERSION
from tests.accounts_helpers import (  # noqa: F401 - fixtures used by name
    ACCOUNT_A,
    ACCOUNT_B,
    secrets_key,
    two_accounts,
)
from tests.conftest import ACCOUNT as ENVIRONMENT_TO_USER
from tests.factories import make_rule
from wechat_api.fake import FakeWeChatAPI

pytestmark = pytest.mark.django_db

TOKEN_PATH = "/cgi-bin/stable_token"
MENU_A = {"button": [{"type": "click", "name": "A商品", "key": "A_GOODS"}]}
MENU_B = {"button": [{"type": "click", "name": "B新闻", "key": "B_NEWS"}]}
CONSOLE_INFO = {
    "is_add_friend_reply_open": 1,
    "is_autoreply_open": 1,
    "add_friend_autoreply_info": {"type": "text", "content": "欢迎关注 B"},
}


@pytest.fixture
def fake(settings, two_accounts):  # noqa: F811
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


def run(*args, **options):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def token_app_ids(fake) -> set[str]:
    return {call["app_id"] for call in fake.calls_to(TOKEN_PATH)}


def document(*rules):
    return json.dumps({"format": FORMAT, "version": VERSION, "rules": list(rules)})


def rule_entry(name, keyword, text, **extra):
    return {
        "name": name,
        "triggers": [{"kind": "keyword", "value": keyword}],
        "replies": [{"type": "text", "content": text}],
        **extra,
    }


def rules_of(account) -> set[str]:
    return set(ReplyRule.objects.filter(account=account).values_list("name", flat=True))


# --- an unknown account -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("publish_menu", "-", "--account", "nope"),
        ("export_menu", "--account", "nope"),
        ("export_rules", "--account", "nope"),
        ("import_rules", "-", "--account", "nope"),
        ("load_demo_rules", "--account", "nope"),
        ("import_console_rules", "-", "--account", "nope"),
        ("purge_messages", "--older-than", "1d", "--account", "nope"),
        ("wxsend", "--account", "nope", "text", "hi"),
    ],
)
def test_an_unknown_account_is_one_clear_line(two_accounts, args):  # noqa: F811
    options = {}
    if "-" in args:  # the commands that read a file get it from stdin
        text = json.dumps(MENU_A) if args[0] == "publish_menu" else document()
        options["stdin"] = StringIO(text)
    with pytest.raises(CommandError) as refused:
        run(*args, **options)
    message = str(refused.value)
    assert message == "No official account 'nope'; the accounts are: default, news-b, shop-a."
    assert not MenuPublication.objects.exists() and not ReplyRule.objects.exists()


def test_account_and_every_account_exclude_each_other(two_accounts):  # noqa: F811
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("export_rules", "--account", "shop-a", "--every-account")


# --- the menu ---------------------------------------------------------------------------------


def test_publish_menu_publishes_to_the_named_account_only(fake, tmp_path):
    path = tmp_path / "menu.json"
    path.write_text(json.dumps(MENU_B, ensure_ascii=False), encoding="utf-8")
    b = Account.objects.get(slug="news-b")

    out, _ = run("publish_menu", str(path), "--account", "news-b")

    assert "Published: 1 buttons, 1 in all" in out and "account news-b" in out
    assert fake.app(ACCOUNT_B["app_id"]).menu == MENU_B
    assert fake.app(ACCOUNT_A["app_id"]).menu is None and fake.menu is None
    assert token_app_ids(fake) == {ACCOUNT_B["app_id"]}
    publication = MenuPublication.objects.get()
    assert (publication.account, publication.source, publication.ok) == (b, "command", True)


def test_publish_menu_without_account_publishes_to_the_environments(fake, tmp_path):
    path = tmp_path / "menu.json"
    path.write_text(json.dumps(MENU_A, ensure_ascii=False), encoding="utf-8")

    run("publish_menu", str(path))

    assert fake.menu == MENU_A
    assert fake.app(ACCOUNT_A["app_id"]).menu is None
    assert MenuPublication.objects.get().account.from_environment


def test_export_menu_writes_the_named_accounts_draft_or_live_menu(fake):
    a, b = Account.objects.get(slug="shop-a"), Account.objects.get(slug="news-b")
    save_draft(MENU_A, account=a)
    save_draft(MENU_B, account=b)
    fake.app(ACCOUNT_B["app_id"]).menu = {"button": [{"type": "click", "name": "直播", "key": "L"}]}

    draft, _ = run("export_menu", "--account", "shop-a")
    live, _ = run("export_menu", "--account", "news-b", "--live")
    environment, _ = run("export_menu")

    assert json.loads(draft) == MENU_A
    assert json.loads(live)["button"][0]["name"] == "直播"
    assert json.loads(environment) == {"button": []}
    assert token_app_ids(fake) == {ACCOUNT_B["app_id"]}


# --- rules: export and import -----------------------------------------------------------------


def test_export_rules_holds_the_accounts_rules_and_marks_the_every_account_ones(two_accounts):  # noqa: F811
    a, b = two_accounts
    make_rule("甲", keywords=["价格"], text="A 的价格", account=a)
    make_rule("乙", keywords=["价格"], text="B 的价格", account=b)
    make_rule("共同", keywords=["你好"], text="您好")

    of_a = json.loads(run("export_rules", "--account", "shop-a")[0])["rules"]
    shared = json.loads(run("export_rules", "--every-account")[0])["rules"]
    environment = json.loads(run("export_rules")[0])["rules"]

    assert [(rule["name"], rule.get("every_account")) for rule in of_a] == [
        ("甲", None),
        ("共同", True),
    ]
    assert [rule["name"] for rule in shared] == ["共同"]
    assert "every_account" not in shared[0]  # in an every-account export, all of them are
    assert [(rule["name"], rule.get("every_account")) for rule in environment] == [("共同", True)]


def test_import_rules_puts_the_rules_in_the_named_account(two_accounts):  # noqa: F811
    a, b = two_accounts
    text = document(
        rule_entry("营业时间", "几点", "9:00–18:00"),
        rule_entry("问候", "你好", "您好", every_account=True),
    )

    out, _ = run("import_rules", "-", "--account", "news-b", stdin=StringIO(text))

    assert "2 rules: 2 created." in out
    assert rules_of(b) == {"营业时间"} and rules_of(a) == set()
    assert rules_of(None) == {"问候"}
    again, _ = run("import_rules", "-", "--account", "news-b", stdin=StringIO(text))
    assert "2 rules: 2 unchanged." in again


def test_a_copy_from_a_to_b_keeps_as_rules_and_shares_the_every_account_ones(two_accounts):  # noqa: F811
    a, b = two_accounts
    make_rule("甲", keywords=["价格"], text="A 的价格", account=a)
    make_rule("共同", keywords=["你好"], text="您好")
    exported, _ = run("export_rules", "--account", "shop-a")

    out, _ = run("import_rules", "-", "--account", "news-b", stdin=StringIO(exported))

    assert "2 rules: 1 created, 1 unchanged." in out
    assert rules_of(b) == {"甲"} and rules_of(a) == {"甲"} and rules_of(None) == {"共同"}
    copy = ReplyRule.objects.get(account=b)
    assert copy.replies.get().content == "A 的价格"


def test_every_account_import_and_replace_keep_to_their_scope(two_accounts):  # noqa: F811
    a, b = two_accounts
    make_rule("甲旧", keywords=["旧"], text="旧", account=a)
    make_rule("乙旧", keywords=["旧"], text="旧", account=b)
    make_rule("共同旧", keywords=["旧"], text="旧")
    text = document(rule_entry("新", "新", "新"))

    out, _ = run("import_rules", "-", "--every-account", "--replace", stdin=StringIO(text))

    assert "created   新" in out and "deleted   共同旧" in out
    assert rules_of(None) == {"新"} and rules_of(a) == {"甲旧"} and rules_of(b) == {"乙旧"}
    out, _ = run("import_rules", "-", "--account", "shop-a", "--replace", stdin=StringIO(text))
    # The file names 新, an every-account rule now: it is updated where it is; A's own other
    # rule goes, B's stays.
    assert "unchanged 新" in out and "deleted   甲旧" in out
    assert rules_of(a) == set() and rules_of(b) == {"乙旧"} and rules_of(None) == {"新"}


def test_replacing_one_accounts_rules_keeps_the_rules_other_accounts_share(two_accounts):  # noqa: F811
    a, b = two_accounts
    make_rule("甲旧", keywords=["旧"], text="旧", account=a)
    make_rule("共同", keywords=["共同"], text="共同")
    text = document(rule_entry("甲新", "新", "新"))

    out, _ = run("import_rules", "-", "--account", "shop-a", "--replace", stdin=StringIO(text))

    # B answers with 共同 too: replacing A's rules must not take it from B.
    assert "deleted   甲旧" in out and "共同" not in out
    assert rules_of(a) == {"甲新"} and rules_of(None) == {"共同"}


def test_an_import_moves_only_the_rule_versions_it_touches(two_accounts):  # noqa: F811
    a, b = two_accounts
    before_a = ruleset.current_ruleset_version(account_id=a.pk)
    before_b = ruleset.current_ruleset_version(account_id=b.pk)

    run(
        "import_rules",
        "-",
        "--account",
        "shop-a",
        stdin=StringIO(document(rule_entry("x", "x", "x"))),
    )

    assert ruleset.current_ruleset_version(account_id=a.pk) != before_a
    assert ruleset.current_ruleset_version(account_id=b.pk) == before_b


def test_load_demo_rules_goes_to_the_named_account(two_accounts):  # noqa: F811
    a, b = two_accounts

    run("load_demo_rules", "--account", "shop-a")

    assert rules_of(a) and rules_of(b) == set() and rules_of(None) == set()


# --- rules: the console import ----------------------------------------------------------------


def test_import_console_rules_fetches_with_the_accounts_app_id_into_that_account(fake):
    b = Account.objects.get(slug="news-b")
    fake.app(ACCOUNT_B["app_id"]).autoreply_info = CONSOLE_INFO
    environment = {"type": "text", "content": "环境"}
    fake.autoreply_info = {**CONSOLE_INFO, "add_friend_autoreply_info": environment}

    out, _ = run("import_console_rules", "--account", "news-b")

    assert "1 rule: 1 created." in out
    rule = ReplyRule.objects.get()
    assert rule.account == b and rule.replies.get().content == "欢迎关注 B"
    assert token_app_ids(fake) == {ACCOUNT_B["app_id"]}


def test_import_console_rules_names_the_account_missing_its_app_secret(fake):
    a = Account.objects.get(slug="shop-a")
    a.set_secret("app_secret", "")
    a.save()

    with pytest.raises(CommandError, match="give account shop-a its AppID and AppSecret"):
        run("import_console_rules", "--account", "shop-a")
    assert fake.calls == []


# --- purge_messages ---------------------------------------------------------------------------


def old_message(account, number):
    long_ago = timezone.now() - timedelta(days=400)
    return Message.objects.create(
        account=account,
        dedup_key=f"purge-{account.slug}-{number}",
        to_user="gh_0123456789ab",
        openid="o_purge",
        msg_type="text",
        content="旧",
        msg_id=str(25000000000000000 + number),
        created_at=long_ago,
        received_at=long_ago,
        raw_xml="<xml/>",
    )


def test_purge_messages_with_account_deletes_that_accounts_only(two_accounts):  # noqa: F811
    a, b = two_accounts
    for number in range(3):
        old_message(a, number)
        old_message(b, 10 + number)

    dry, _ = run("purge_messages", "--older-than", "180d", "--account", "shop-a", "--dry-run")
    out, _ = run("purge_messages", "--older-than", "180d", "--account", "shop-a")

    assert "Would delete 3 messages" in dry and "by account shop-a" in dry
    assert "Deleted 3 messages" in out
    assert not Message.objects.filter(account=a).exists()
    assert Message.objects.filter(account=b).count() == 3
    everyone, _ = run("purge_messages", "--older-than", "180d")
    assert "Deleted 3 messages" in everyone and not Message.objects.exists()


# --- wxsend -----------------------------------------------------------------------------------

live = pytest.mark.django_db(transaction=True)


@live
@pytest.mark.parametrize("mode", ["plain", "compat", "aes"])
def test_wxsend_talks_to_the_named_account_with_its_own_secrets(live_server, two_accounts, mode):  # noqa: F811
    a, b = two_accounts
    make_rule("甲", keywords=["价格"], text="A 的价格", account=a)
    make_rule("乙", keywords=["价格"], text="B 的价格", account=b)
    base = f"{live_server.url}/wechat/"

    out_b, err = run("wxsend", "--url", f"{base}news-b/", "--account", "news-b", "--mode", mode,
                     "text", "价格")  # fmt: skip

    assert "B 的价格" in out_b and err == ""
    stored = Message.objects.get()
    assert (stored.account, stored.to_user, stored.mode) == (b, ACCOUNT_B["original_id"], mode)


@live
def test_wxsend_warns_when_the_url_is_not_the_accounts(live_server, two_accounts):  # noqa: F811
    err = StringIO()
    with pytest.raises(CommandError, match="refused the signature"):
        # A's secrets at B's URL: B refuses the signature.
        call_command(
            "wxsend",
            *("--url", f"{live_server.url}/wechat/news-b/", "--account", "shop-a"),
            *("text", "价格"),
            stdout=StringIO(),
            stderr=err,
        )
    assert "is not /wechat/shop-a/, the path of account shop-a" in err.getvalue()
    _, quiet = run(
        "wxsend",
        "--url",
        f"{live_server.url}/wechat/shop-a/",
        "--account",
        "shop-a",
        "text",
        "价格",
    )
    assert quiet == ""
    assert Message.objects.get().account.slug == "shop-a"


def test_wxsend_default_url_is_the_accounts_path_on_the_local_server(two_accounts):  # noqa: F811
    from replies.management.commands.wxsend import session_from

    options = {
        "account": "news-b",
        "url": None,
        "mode": "aes",
        "openid": "o_x",
        "timeout": 5,
        "raw": False,
        "host": "",
        "insecure": False,
    }
    session = session_from(options)

    assert session.url == "http://127.0.0.1:8000/wechat/news-b/"
    assert (session.token, session.app_id, session.aes_key) == (
        ACCOUNT_B["token"],
        ACCOUNT_B["app_id"],
        ACCOUNT_B["aes_key"],
    )
    assert session.account == ACCOUNT_B["original_id"]  # ToUserName
    overridden = session_from({**options, "token": "explicit9", "to_user": "gh_000000000000"})
    assert (overridden.token, overridden.account) == ("explicit9", "gh_000000000000")


@live
def test_wxsend_account_with_a_gh_value_still_means_to_user_name(live_server):
    out, _ = run("wxsend", "--url", f"{live_server.url}/wechat/", "--account", "gh_legacy00001",
                 "text", "你好")  # fmt: skip

    stored = Message.objects.get()
    assert stored.to_user == "gh_legacy00001" and stored.account.from_environment
    assert ENVIRONMENT_TO_USER != stored.to_user


def test_wxsend_says_which_account_lacks_a_secret(two_accounts):  # noqa: F811
    a, _b = two_accounts
    a.set_secret("aes_key", "")
    a.save()

    with pytest.raises(CommandError, match="give account shop-a its EncodingAESKey and AppID"):
        run("wxsend", "--account", "shop-a", "--mode", "aes", "text", "你好")


def test_fake_api_with_stored_accounts_names_unreadable_secrets_in_one_line(two_accounts, settings):  # noqa: F811
    from cryptography.fernet import Fernet

    settings.WECHAT_SECRETS_KEYS = (
        Fernet.generate_key().decode()
    )  # not the key they were saved with
    with pytest.raises(CommandError, match="Cannot read the secrets of account shop-a"):
        run("fake_wechat_api", "127.0.0.1:0", "--stored-accounts")
