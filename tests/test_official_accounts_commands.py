"""`add_account`: scripted set-up through the admin's form; clear errors, never a secret printed."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from accounts.models import Account
from tests.conftest import APP_ID
from tests.test_official_accounts import KEY_1, SHOP, raw_row

pytestmark = pytest.mark.django_db

NEW_AES_KEY = "New0123456789abcdefghijklmnopqrstuvwxyzABCD"
ARGS = [
    "--slug", SHOP["slug"],
    "--name", SHOP["name"],
    "--app-id", SHOP["app_id"],
    "--token", SHOP["token"],
    "--aes-key", SHOP["aes_key"],
]  # fmt: skip


@pytest.fixture(autouse=True)
def secrets_key(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1]


def add_account(*args, language="en") -> str:
    out, err = io.StringIO(), io.StringIO()
    with translation.override(language):
        call_command("add_account", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def refused(*args, language="en") -> str:
    with pytest.raises(CommandError) as error:
        add_account(*args, language=language)
    return str(error.value)


def test_add_account_stores_the_account_encrypted_and_prints_no_secret():
    User.objects.create_user("shop-staff", is_staff=True)
    output = add_account(
        *ARGS,
        "--app-secret", SHOP["app_secret"],
        "--original-id", SHOP["original_id"],
        "--member", "shop-staff",
    )  # fmt: skip
    assert "/wechat/shop/" in output
    for secret in (SHOP["token"], SHOP["aes_key"], SHOP["app_secret"]):
        assert secret not in output
    account = Account.objects.get(slug="shop")
    credentials = account.credentials()
    assert (credentials.token, credentials.aes_key, credentials.app_secret) == (
        SHOP["token"],
        SHOP["aes_key"],
        SHOP["app_secret"],
    )
    assert credentials.original_id == SHOP["original_id"]
    assert [user.username for user in account.members.all()] == ["shop-staff"]
    assert SHOP["token"] not in raw_row(account)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["--app-id", "wx12345"], "--app-id: An AppID is wx followed by 16 hexadecimal digits."),
        (["--token", "no"], "--token: A Token is 3 to 32 letters and digits."),
        (["--token", "has space 1"], "--token: A Token is 3 to 32 letters and digits."),
        (["--aes-key", "tooShortKey42"], "--aes-key: An EncodingAESKey is 43 letters"),
        (["--slug", "Shop/1"], "--slug: Use 1 to 40 lower-case letters"),
        (["--original-id", "gh_nothex"], "--original-id: An original ID is gh_ followed by 12"),
        (["--app-secret", "short"], "--app-secret: An AppSecret is 32 letters and digits."),
        (["--app-id", APP_ID], "--app-id: This is the AppID of the account configured in"),
    ],
)
def test_add_account_refuses_bad_values_naming_the_option_and_not_the_value(change, expected):
    args = list(ARGS)
    option, value = change
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += change
    message = refused(*args)
    assert message.startswith("Nothing was saved:")
    assert expected in message
    if option in ("--token", "--aes-key", "--app-secret"):
        assert value not in message
    assert not Account.objects.filter(from_environment=False).exists()


def test_add_account_explains_in_the_admin_language():
    message = refused(*ARGS[:-1], "tooShortKey42", language="zh-hans")
    assert "--aes-key: EncodingAESKey 为 43 位字母和数字。" in message


def test_add_account_says_what_is_missing():
    message = refused("--slug", "shop", "--name", "x")
    assert "--app-id:" in message and "--token:" in message and "--aes-key:" in message


def test_add_account_refuses_a_slug_in_use_unknown_members_and_non_staff():
    add_account(*ARGS)
    assert "exists already: add --update" in refused(*ARGS)
    other = ["--slug", "news", *ARGS[2:5], "wx1123456789abcdef", *ARGS[6:]]
    assert "No user 'ghost'." in refused(*other, "--member", "ghost")
    User.objects.create_user("follower")
    assert "is not staff" in refused(*other, "--member", "follower")


def test_add_account_without_the_encryption_key_explains_it(settings):
    settings.WECHAT_SECRETS_KEYS = []
    assert "WECHAT_SECRETS_KEYS" in refused(*ARGS)
    assert not Account.objects.filter(slug="shop").exists()


def test_update_rotates_the_aes_key_keeping_the_old_one_as_previous():
    add_account(*ARGS)
    output = add_account("--update", "--slug", "shop", "--aes-key", NEW_AES_KEY)
    assert "Secrets saved (encrypted): aes_key, previous_aes_key." in output
    assert NEW_AES_KEY not in output and SHOP["aes_key"] not in output
    credentials = Account.objects.get(slug="shop").credentials()
    assert (credentials.aes_key, credentials.previous_aes_key) == (NEW_AES_KEY, SHOP["aes_key"])
    assert credentials.token == SHOP["token"]  # untouched
    assert Account.objects.get(slug="shop").name == SHOP["name"]
    add_account("--update", "--slug", "shop", "--clear-previous-aes-key")
    assert Account.objects.get(slug="shop").credentials().previous_aes_key == ""


def test_update_adds_members_and_refuses_what_it_cannot_change():
    add_account(*ARGS)
    User.objects.create_user("zhang", is_staff=True)
    add_account("--update", "--slug", "shop", "--member", "zhang")
    assert list(Account.objects.get(slug="shop").members.values_list("username", flat=True)) == [
        "zhang"
    ]
    assert "No official account 'nope' to update." in refused("--update", "--slug", "nope")
    assert "configured in the environment" in refused(
        "--update", "--slug", "default", "--token", "abcdef"
    )
