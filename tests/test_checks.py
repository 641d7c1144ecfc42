"""System checks for the WECHAT_* settings and the admin's path."""

import pytest
from django.core import checks

from replies.checks import check_admin_url, check_wechat_settings, check_wechat_token_for_deploy


def ids(messages):
    return {message.id for message in messages}


def test_valid_settings_pass(settings):
    assert check_wechat_settings() == []
    assert check_wechat_token_for_deploy() == []


def test_missing_token_is_a_warning_and_an_error_for_deploy(settings):
    settings.WECHAT_TOKEN = ""
    assert ids(check_wechat_settings()) == {"replies.W001"}
    assert isinstance(check_wechat_settings()[0], checks.Warning)
    assert ids(check_wechat_token_for_deploy()) == {"replies.E001"}


def test_malformed_aes_keys_are_errors(settings):
    settings.WECHAT_ENCODING_AES_KEY = "short"
    settings.WECHAT_ENCODING_AES_KEY_PREVIOUS = "x" * 42 + "!"
    problems = check_wechat_settings()
    assert [p.id for p in problems].count("replies.E002") == 2
    assert all("characters" in p.msg for p in problems if p.id == "replies.E002")


def test_aes_key_without_app_id_is_an_error(settings):
    settings.WECHAT_APP_ID = ""
    assert "replies.E003" in ids(check_wechat_settings())


def test_previous_key_alone_is_an_error(settings):
    settings.WECHAT_ENCODING_AES_KEY_PREVIOUS = settings.WECHAT_ENCODING_AES_KEY
    settings.WECHAT_ENCODING_AES_KEY = ""
    assert "replies.E004" in ids(check_wechat_settings())


def test_checks_are_registered_with_django(settings):
    settings.WECHAT_TOKEN = ""
    assert "replies.W001" in ids(checks.run_checks())
    assert "replies.E001" in ids(checks.run_checks(include_deployment_checks=True))


@pytest.mark.parametrize("admin_url", ["admin/", "staff-7f3k/", "ops/admin/", "wechatadmin/"])
def test_an_admin_path_of_its_own_passes(settings, admin_url):
    settings.ADMIN_URL = admin_url
    assert check_admin_url() == []


@pytest.mark.parametrize("admin_url", ["", "/", "//"])
def test_an_empty_admin_path_is_an_error(settings, admin_url):
    # settings.py turns DJANGO_ADMIN_URL="" or "/" into "/": the admin at the site's root.
    settings.ADMIN_URL = admin_url
    problems = check_admin_url()
    assert ids(problems) == {"replies.E006"}
    assert isinstance(problems[0], checks.Error)


@pytest.mark.parametrize("admin_url", ["wechat/", "healthz/", "wechat/admin/"])
def test_an_admin_path_on_the_endpoint_is_an_error(settings, admin_url):
    settings.ADMIN_URL = admin_url
    assert ids(check_admin_url()) == {"replies.E007"}


def test_the_admin_path_check_is_registered_with_django(settings):
    settings.ADMIN_URL = "/"
    assert "replies.E006" in ids(checks.run_checks())
