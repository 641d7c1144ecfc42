"""Official accounts: secrets encrypted at rest, key rotation, credentials of either kind of
account, the environment account the migration makes, who sees which account, system checks."""

import importlib
import io

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.contrib.auth.models import AnonymousUser, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from accounts import checks as account_checks
from accounts.access import accounts_for
from accounts.forms import AccountForm
from accounts.models import ENVIRONMENT_SLUG, Account
from accounts.secrets import (
    SecretsKeyMissing,
    SecretUnreadable,
    decrypt_secret,
    encrypt_secret,
    needs_rotation,
)
from replies.protocol import decode_aes_key
from tests.conftest import AES_KEY, APP_ID, OLD_AES_KEY, TOKEN

pytestmark = pytest.mark.django_db

KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()
SHOP = {
    "name": "商城服务号",
    "slug": "shop",
    "app_id": "wx0123456789abcdef",
    "original_id": "gh_abcdef012345",
    "token": "shopToken42",
    "aes_key": "Shop0123456789abcdefghijklmnopqrstuvwxyzABC",
    "app_secret": "0123456789abcdef0123456789abcdef",
}
SECRETS = (SHOP["token"], SHOP["aes_key"], SHOP["app_secret"])


@pytest.fixture
def secrets_key(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1]
    return settings


def add_shop(**changes) -> Account:
    form = AccountForm(data=SHOP | {"keep_previous_aes_key": True} | changes)
    assert form.is_valid(), form.errors
    return form.save()


def raw_row(account: Account) -> str:
    """Every column of the account's row as the database holds it, joined."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_account WHERE id = %s", [account.pk])
        return " ".join(str(value) for value in cursor.fetchone())


# --- encryption ------------------------------------------------------------------------------


def test_a_secret_round_trips_and_is_never_stored_as_itself(secrets_key):
    stored = encrypt_secret("shopToken42")
    assert stored != "shopToken42" and "shopToken42" not in stored
    assert decrypt_secret(stored) == "shopToken42"
    assert encrypt_secret("shopToken42") != stored  # a fresh IV each time


def test_encrypting_without_a_key_is_a_clear_error(settings):
    settings.WECHAT_SECRETS_KEYS = []
    with pytest.raises(SecretsKeyMissing, match="WECHAT_SECRETS_KEYS is not set"):
        encrypt_secret("shopToken42")
    settings.WECHAT_SECRETS_KEYS = ["not-a-fernet-key"]
    with pytest.raises(SecretsKeyMissing, match="Key 1 of WECHAT_SECRETS_KEYS is not a Fernet"):
        encrypt_secret("shopToken42")


def test_the_database_holds_no_secret_in_clear(secrets_key):
    account = add_shop(previous_aes_key=OLD_AES_KEY)
    row = raw_row(account)
    for secret in (*SECRETS, OLD_AES_KEY):
        assert secret not in row
    assert SHOP["app_id"] in row and SHOP["slug"] in row  # identifiers are not secrets
    credentials = Account.objects.get(pk=account.pk).credentials()
    assert (credentials.token, credentials.aes_key, credentials.app_secret) == SECRETS
    assert credentials.previous_aes_key == OLD_AES_KEY


def test_a_key_rotates_old_key_still_decrypts_then_only_the_new_one_is_needed(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1]
    account = add_shop()
    before = raw_row(account)
    # Step 1: the new key first, the old one after it: everything still reads.
    settings.WECHAT_SECRETS_KEYS = [KEY_2, KEY_1]
    account.refresh_from_db()
    assert account.credentials().token == SHOP["token"]
    assert all(needs_rotation(value) for value in account.stored_secrets().values() if value)
    # Step 2: re-encrypt with the new key.
    out = io.StringIO()
    call_command("rotate_secrets_key", stdout=out)
    assert "Re-encrypted 3 secret(s) of 1 official account(s)" in out.getvalue()
    account.refresh_from_db()
    assert raw_row(account) != before
    assert not any(needs_rotation(value) for value in account.stored_secrets().values() if value)
    # Step 3: the old key removed: the secrets read with the new key alone ...
    settings.WECHAT_SECRETS_KEYS = [KEY_2]
    assert account.credentials().aes_key == SHOP["aes_key"]
    # ... and no longer with the old one.
    settings.WECHAT_SECRETS_KEYS = [KEY_1]
    with pytest.raises(SecretUnreadable):
        account.credentials()


def test_rotation_changes_nothing_when_a_secret_cannot_be_read(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1]
    add_shop()
    readable = add_shop(slug="news", app_id="wx1123456789abcdef", original_id="")
    settings.WECHAT_SECRETS_KEYS = [KEY_2]  # KEY_1, which made them, removed too early
    Account.objects.filter(pk=readable.pk).update(token_encrypted=encrypt_secret("newsToken"))
    before = raw_row(readable)
    with pytest.raises(CommandError, match="'shop'.*Nothing was changed"):
        call_command("rotate_secrets_key", stdout=io.StringIO())
    assert raw_row(readable) == before


def test_rotation_without_a_key_says_so(settings):
    settings.WECHAT_SECRETS_KEYS = []
    with pytest.raises(CommandError, match="WECHAT_SECRETS_KEYS is not set"):
        call_command("rotate_secrets_key", stdout=io.StringIO())


# --- credentials ---------------------------------------------------------------------------


def test_the_environment_account_takes_its_credentials_from_the_settings(settings):
    settings.WECHAT_APP_SECRET = "fedcba9876543210fedcba9876543210"
    settings.WECHAT_ENCODING_AES_KEY_PREVIOUS = OLD_AES_KEY
    account = Account.objects.get(from_environment=True)
    credentials = account.credentials()
    assert (credentials.token, credentials.app_id, credentials.aes_key) == (TOKEN, APP_ID, AES_KEY)
    assert credentials.previous_aes_key == OLD_AES_KEY
    assert credentials.app_secret == "fedcba9876543210fedcba9876543210"
    protocol = credentials.protocol_credentials()
    assert protocol.aes_keys == (decode_aes_key(AES_KEY), decode_aes_key(OLD_AES_KEY))
    assert (protocol.token, protocol.app_id) == (TOKEN, APP_ID)
    assert account.endpoint_path == "/wechat/"


def test_a_stored_account_decrypts_its_credentials_and_never_shows_them_in_repr(secrets_key):
    account = add_shop()
    credentials = account.credentials()
    assert credentials.app_id == SHOP["app_id"] and credentials.original_id == SHOP["original_id"]
    assert credentials.protocol_credentials().aes_keys == (decode_aes_key(SHOP["aes_key"]),)
    for secret in SECRETS:
        assert secret not in repr(credentials)
    assert account.endpoint_path == "/wechat/shop/"


def test_the_environment_account_never_stores_a_secret(secrets_key):
    account = Account.objects.get(from_environment=True)
    with pytest.raises(ValueError, match="never stored"):
        account.set_secret("token", "shopToken42")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(token_encrypted=encrypt_secret("x"))


# --- the environment account, made by the migration ----------------------------------------


def test_the_migration_made_the_environment_account():
    account = Account.objects.get(from_environment=True)
    assert account.slug == ENVIRONMENT_SLUG
    assert not any(account.stored_secrets().values()) and account.app_id == ""
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(slug="another", name="x", from_environment=True)


def test_the_migration_makes_every_staff_user_a_member_so_nobody_loses_anything():
    module = importlib.import_module("accounts.migrations.0002_environment_account")
    Account.objects.filter(from_environment=True).delete()
    zhang = User.objects.create_user("operator-zhang", is_staff=True)
    boss = User.objects.create_superuser("boss")
    follower = User.objects.create_user("not-staff")
    module.create_environment_account(apps, None)
    account = Account.objects.get(from_environment=True)
    assert (account.slug, account.name) == (ENVIRONMENT_SLUG, module.ENVIRONMENT_NAME)
    assert set(account.members.all()) == {zhang, boss}
    assert list(accounts_for(zhang)) == [account]
    assert follower not in account.members.all()
    module.create_environment_account(apps, None)  # running it again changes nothing
    assert Account.objects.filter(from_environment=True).count() == 1


# --- who sees which account ------------------------------------------------------------------


def test_accounts_for_superusers_members_and_nobody_else(secrets_key):
    environment = Account.objects.get(from_environment=True)
    shop = add_shop()
    member = User.objects.create_user("shop-staff", is_staff=True)
    shop.members.add(member)
    boss = User.objects.create_superuser("boss")
    outsider = User.objects.create_user("outsider", is_staff=True)
    gone = User.objects.create_user("gone", is_staff=True, is_active=False)
    shop.members.add(gone)
    assert set(accounts_for(boss)) == {environment, shop}
    # The environment account is open to all staff until an operator restricts it.
    assert set(accounts_for(member)) == {environment, shop}
    assert list(accounts_for(outsider)) == [environment]
    environment.all_staff = False
    environment.save()
    assert list(accounts_for(member)) == [shop]
    assert list(accounts_for(outsider)) == []
    assert list(accounts_for(gone)) == []
    assert list(accounts_for(AnonymousUser())) == []
    assert list(accounts_for(None)) == []


# --- system checks ---------------------------------------------------------------------------


def check_ids() -> list[str]:
    """The accounts' problems `migrate` or `check --database default` reports."""
    from django.core import checks

    problems = checks.run_checks(include_deployment_checks=True, databases=["default"])
    return [problem.id for problem in problems if problem.id.startswith("accounts.")]


def test_no_key_is_fine_while_no_secret_is_stored(settings):
    settings.WECHAT_SECRETS_KEYS = []
    assert check_ids() == []


def test_a_malformed_key_is_always_an_error(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1, "too-short"]
    problems = account_checks.check_secrets_keys()
    assert [problem.id for problem in problems] == ["accounts.E002"]
    assert "Key 2" in problems[0].msg and "too-short" not in problems[0].msg


def test_stored_secrets_without_a_key_are_an_error(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1]
    add_shop()
    assert check_ids() == []
    settings.WECHAT_SECRETS_KEYS = []
    assert check_ids() == ["accounts.E001"]


def test_secrets_no_key_decrypts_are_an_error_and_an_older_key_a_warning(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1]
    add_shop()
    settings.WECHAT_SECRETS_KEYS = [KEY_2]
    assert check_ids() == ["accounts.E003"]
    settings.WECHAT_SECRETS_KEYS = [KEY_2, KEY_1]
    assert check_ids() == ["accounts.W001"]
    call_command("rotate_secrets_key", stdout=io.StringIO())
    assert check_ids() == []


def test_the_deploy_check_stays_clean_for_a_deployment_from_the_environment(settings):
    settings.WECHAT_SECRETS_KEYS = []
    assert check_ids() == []


def test_a_plain_check_never_reads_the_database(settings, django_assert_num_queries):
    from django.core import checks

    settings.WECHAT_SECRETS_KEYS = []
    with django_assert_num_queries(0):
        problems = checks.run_checks(include_deployment_checks=True)
    assert not [problem for problem in problems if problem.id.startswith("accounts.")]


def test_the_stored_secrets_check_says_nothing_before_the_table_exists(settings, monkeypatch):
    from django.db import DatabaseError

    def no_table(*args, **kwargs):
        raise DatabaseError("no such table: accounts_account")

    monkeypatch.setattr(Account.objects, "using", no_table)
    settings.WECHAT_SECRETS_KEYS = []
    assert account_checks.check_stored_secrets(databases=["default"]) == []
