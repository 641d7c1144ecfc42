"""The official accounts' admin: secrets masked on every page, superusers edit, members look."""

import pytest
from django.contrib.auth.models import User

from accounts.models import Account
from tests.conftest import OLD_AES_KEY
from tests.test_official_accounts import KEY_1, SECRETS, SHOP, add_shop, raw_row

pytestmark = pytest.mark.django_db

URL = "/admin/accounts/account/"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
NEW_AES_KEY = "New0123456789abcdefghijklmnopqrstuvwxyzABCD"


@pytest.fixture(autouse=True)
def secrets_key(settings):
    settings.WECHAT_SECRETS_KEYS = [KEY_1]


def form_data(**changes) -> dict:
    data = {
        "name": SHOP["name"],
        "slug": SHOP["slug"],
        "original_id": SHOP["original_id"],
        "app_id": SHOP["app_id"],
        "token": "",
        "aes_key": "",
        "keep_previous_aes_key": "on",
        "previous_aes_key": "",
        "app_secret": "",
    }
    return data | changes


def assert_no_secret(html: str) -> None:
    for secret in (*SECRETS, OLD_AES_KEY, NEW_AES_KEY):
        assert secret not in html


def member_client(client, account: Account, username="shop-staff"):
    user = User.objects.create_user(username, is_staff=True)
    account.members.add(user)
    client.force_login(user)
    return client


def test_a_superuser_adds_an_account_and_no_page_ever_shows_its_secrets(admin_client):
    response = admin_client.post(
        f"{URL}add/",
        form_data(token=SHOP["token"], aes_key=SHOP["aes_key"], app_secret=SHOP["app_secret"]),
    )
    assert response.status_code == 302, response.content.decode()
    account = Account.objects.get(slug="shop")
    assert account.credentials().token == SHOP["token"]
    assert_no_secret(raw_row(account))
    listing = admin_client.get(URL, **ZH).content.decode()
    assert "/wechat/shop/" in listing and "/wechat/</code>" in listing
    assert_no_secret(listing)
    page = admin_client.get(f"{URL}{account.pk}/change/", **ZH).content.decode()
    assert_no_secret(page)
    assert "已保存 ••••" in page and "/wechat/shop/" in page


def test_empty_secret_fields_keep_the_saved_values(admin_client):
    account = add_shop()
    response = admin_client.post(f"{URL}{account.pk}/change/", form_data(name="商城"))
    assert response.status_code == 302
    account.refresh_from_db()
    credentials = account.credentials()
    assert account.name == "商城"
    assert (credentials.token, credentials.aes_key, credentials.app_secret) == SECRETS


def test_a_new_aes_key_keeps_the_replaced_one_as_previous(admin_client):
    account = add_shop()
    response = admin_client.post(f"{URL}{account.pk}/change/", form_data(aes_key=NEW_AES_KEY))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.credentials().aes_key == NEW_AES_KEY
    assert account.credentials().previous_aes_key == SHOP["aes_key"]
    # Once WeChat uses only the new key, the previous one is removed.
    admin_client.post(f"{URL}{account.pk}/change/", form_data(clear_previous_aes_key="on"))
    account.refresh_from_db()
    assert account.credentials().previous_aes_key == ""


def test_bad_values_are_refused_with_errors_that_repeat_no_secret(admin_client):
    response = admin_client.post(
        f"{URL}add/",
        form_data(app_id="wx-nope", token="ab", aes_key="short-key", slug="Shop/1"),
        **ZH,
    )
    assert response.status_code == 200
    page = response.content.decode()
    for error in (
        "AppID 为 wx 加 16 位十六进制数字。",
        "Token 为 3 到 32 位字母和数字。",
        "EncodingAESKey 为 43 位字母和数字。",
        "请使用 1 到 40 位小写字母、数字和连字符，以字母或数字开头。",
    ):
        assert error in page
    assert "short-key" not in page
    assert not Account.objects.filter(name=SHOP["name"]).exists()


def test_saving_a_secret_without_the_encryption_key_is_a_clear_form_error(admin_client, settings):
    settings.WECHAT_SECRETS_KEYS = []
    response = admin_client.post(
        f"{URL}add/", form_data(token=SHOP["token"], aes_key=SHOP["aes_key"])
    )
    assert response.status_code == 200
    assert "WECHAT_SECRETS_KEYS" in response.content.decode()
    assert not Account.objects.filter(slug="shop").exists()


def test_the_environment_account_shows_where_its_secrets_live_and_has_no_secret_inputs(
    admin_client,
):
    account = Account.objects.get(from_environment=True)
    page = admin_client.get(f"{URL}{account.pk}/change/", **ZH).content.decode()
    assert "WECHAT_TOKEN" in page and "/wechat/" in page
    assert 'name="token"' not in page and 'name="aes_key"' not in page
    assert "test-token" not in page  # the token of the settings (tests/conftest.py)
    response = admin_client.post(
        f"{URL}{account.pk}/change/", {"name": "服务号", "original_id": "gh_0123456789ab"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.original_id) == ("服务号", "gh_0123456789ab")
    assert admin_client.post(f"{URL}{account.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Account.objects.filter(pk=account.pk).exists()


def test_a_member_sees_their_account_masked_and_cannot_change_it(client):
    shop = add_shop()
    member_client(client, shop)
    assert client.get(URL).status_code == 200
    page = client.get(f"{URL}{shop.pk}/change/", **ZH).content.decode()
    assert_no_secret(page)
    assert "已保存 ••••" in page and 'name="token"' not in page
    response = client.post(f"{URL}{shop.pk}/change/", form_data(token="stolenToken1"))
    assert response.status_code == 403
    assert client.get(f"{URL}add/").status_code == 403
    assert client.post(f"{URL}{shop.pk}/delete/", {"post": "yes"}).status_code == 403
    shop.refresh_from_db()
    assert shop.credentials().token == SHOP["token"]


def test_a_member_of_one_account_cannot_reach_another(client):
    shop = add_shop()
    news = add_shop(slug="news", app_id="wx1123456789abcdef", original_id="")
    member_client(client, shop)
    listing = client.get(URL).content.decode()
    assert "/wechat/shop/" in listing and "/wechat/news/" not in listing
    # Django's answer to an id the user may not see: "does not exist", back to the index.
    response = client.get(f"{URL}{news.pk}/change/", follow=True)
    assert "/wechat/news/" not in response.content.decode()
    assert client.post(f"{URL}{news.pk}/change/", form_data(name="x")).status_code in (302, 403)
    news.refresh_from_db()
    assert news.name == SHOP["name"]


def test_staff_without_an_account_do_not_see_the_accounts_at_all(client):
    Account.objects.filter(from_environment=True).update(all_staff=False)
    user = User.objects.create_user("nobody", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert "/admin/accounts/" not in client.get("/admin/").content.decode()


def test_the_list_accepts_no_lookup_it_does_not_offer(admin_client):
    assert admin_client.get(URL, {"slug__regex": "(a+)+$"}).status_code == 400
    assert admin_client.get(URL, {"q": "shop"}).status_code == 200
