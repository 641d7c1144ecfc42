"""Staff accounts: password rules, login lockout, the client address, two-factor login.

Logins go through the admin's real login form (client.post to admin:login), as a browser's do.
"""

import io
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff import two_factor
from staff.client_ip import get_client_ip

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-7Qz"
LOGIN_URL = "/admin/login/"
INDEX_URL = "/admin/"


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)


@pytest.fixture
def editor():
    return get_user_model().objects.create_user("editor", "ed@example.com", PASSWORD, is_staff=True)


def log_in(client, username, password=PASSWORD, *, code=None, address="127.0.0.1", **headers):
    data = {"username": username, "password": password, "next": INDEX_URL}
    if code is not None:
        data["otp_token"] = code
    return client.post(LOGIN_URL, data, REMOTE_ADDR=address, **headers)


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == INDEX_URL


def current_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{value:0{device.digits}d}"


# --- passwords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("1", "password_too_short"),
        ("short-pw", "password_too_short"),
        ("123456789012", "password_entirely_numeric"),
        ("qwerty123456", "password_too_common"),
        ("operator1234", "password_too_similar"),
    ],
)
def test_weak_staff_passwords_are_refused(operator, password, code):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, operator)
    assert code in {error.code for error in refused.value.error_list}


def test_a_long_uncommon_password_is_accepted(operator):
    validate_password("wechat-rules-in-spring-41", operator)


def test_the_admin_password_change_refuses_1(client, operator):
    client.force_login(operator)
    response = client.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": "1", "new_password2": "1"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    operator.refresh_from_db()
    assert operator.check_password(PASSWORD)


# --- lockout -----------------------------------------------------------------------------------


def test_fifty_wrong_passwords_are_stopped_after_five(client, operator, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    answers = [log_in(client, "operator", f"wrong-{n}").status_code for n in range(50)]
    assert answers[:4] == [200] * 4  # the login form again, with its error
    assert set(answers[4:]) == {429}
    # Locked: even the right password is refused now, and nobody is logged in.
    response = log_in(client, "operator")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_is_the_admin_in_chinese(client, operator):
    for n in range(5):
        response = log_in(client, "operator", f"wrong-{n}", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 429
    html = response.content.decode()
    assert '<html lang="zh-hans"' in html
    assert "wxsite 管理后台" in html
    assert "登录失败次数过多" in html and "15 分钟" in html
    assert "Account locked" not in html and "too many" not in html.lower()
    assert int(response["Retry-After"]) == 15 * 60
    assert "Content-Security-Policy" in response


def test_the_lockout_page_in_english_when_asked(client, operator, settings):
    settings.LANGUAGE_CODE = "en"
    for n in range(5):
        response = log_in(client, "operator", f"wrong-{n}", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert "paused for 15 minutes" in response.content.decode()


def test_lockout_follows_the_account_across_addresses(client, operator):
    # A botnet: every guess from another address.
    for n in range(5):
        log_in(client, "operator", f"wrong-{n}", address=f"198.51.100.{n + 1}")
    assert log_in(client, "operator", address="203.0.113.77").status_code == 429


def test_a_colleague_behind_the_same_nat_is_not_locked_out(client, operator, editor):
    for n in range(5):
        log_in(client, "operator", f"wrong-{n}", address="203.0.113.10")
    assert logged_in(log_in(client, "editor", address="203.0.113.10"))


def test_lockout_by_username_and_address_when_configured(client, operator, settings):
    settings.AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
    for n in range(5):
        log_in(client, "operator", f"wrong-{n}", address="198.51.100.1")
    assert log_in(client, "operator", address="198.51.100.1").status_code == 429
    assert logged_in(log_in(client, "operator", address="198.51.100.2"))


def test_the_count_is_kept_in_the_database_for_every_worker(client, operator, settings):
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"
    for n in range(5):
        log_in(client, "operator", f"wrong-{n}")
    cache.clear()  # another worker: nothing in its memory, the same database
    assert AccessAttempt.objects.get(username="operator").failures_since_start == 5
    assert log_in(client, "operator").status_code == 429


def test_the_pause_ends_after_the_cool_off(client, operator):
    for n in range(5):
        log_in(client, "operator", f"wrong-{n}")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert logged_in(log_in(client, "operator"))


def test_axes_reset_username_unlocks_at_once(client, operator):
    for n in range(5):
        log_in(client, "operator", f"wrong-{n}")
    assert log_in(client, "operator").status_code == 429
    call_command("axes_reset_username", "operator", stdout=io.StringIO())
    assert logged_in(log_in(client, "operator"))


def test_a_success_clears_earlier_failures(client, operator):
    for n in range(4):
        log_in(client, "operator", f"wrong-{n}")
    assert logged_in(log_in(client, "operator"))
    client.logout()
    for n in range(4):
        assert log_in(client, "operator", f"wrong-again-{n}").status_code == 200


def test_client_login_without_a_request_still_works(client, operator):
    # Django's test client authenticates without a request; the lockout backend lets it through.
    assert client.login(username="operator", password=PASSWORD)
    assert client.get(INDEX_URL).status_code == 200
    client.logout()
    assert not client.login(username="operator", password="wrong")


def test_stored_attempts_hide_the_password_and_the_code(client, operator):
    log_in(client, "operator", "wrong-secret-pw", code="abcd-efgh")
    post_data = AccessAttempt.objects.get().post_data
    assert "wrong-secret-pw" not in post_data and "abcd-efgh" not in post_data


# --- the client address behind proxies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "remote", "client_ip"),
    [
        (0, "", "203.0.113.5", "203.0.113.5"),
        (0, "6.6.6.6", "203.0.113.5", "203.0.113.5"),  # no proxy: the header is a lie
        (1, "203.0.113.9", "10.0.0.1", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "10.0.0.1", "203.0.113.9"),  # spoofed entry on the left
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "10.0.0.1", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.1", "10.0.0.1"),  # fewer entries than proxies
        (1, "not-an-address", "10.0.0.1", "10.0.0.1"),
        (1, "2001:db8::1", "10.0.0.1", "2001:db8::1"),
    ],
)
def test_client_address_is_what_our_outermost_proxy_saw(
    settings, proxies, forwarded, remote, client_ip
):
    settings.TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    assert get_client_ip(request) == client_ip


def test_failed_logins_record_the_address_behind_the_proxy(client, operator, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    log_in(
        client, "operator", "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )
    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"


def read_settings(**env) -> dict:
    code = (
        "import json, wxsite.settings as s;"
        "print(json.dumps({'limit': s.AXES_FAILURE_LIMIT, "
        "'cooloff': s.AXES_COOLOFF_TIME.total_seconds(), 'proxies': s.TRUSTED_PROXY_COUNT, "
        "'policy': s.ADMIN_REQUIRE_2FA, 'lockout': s.AXES_LOCKOUT_PARAMETERS}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=base | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout)


def test_staff_settings_have_safe_defaults_and_come_from_the_environment():
    assert read_settings() == {
        "limit": 5,
        "cooloff": 900.0,
        "proxies": 0,
        "policy": "off",
        "lockout": ["username"],
    }
    assert read_settings(
        DJANGO_AXES_FAILURE_LIMIT="3",
        DJANGO_AXES_COOLOFF_MINUTES="60",
        DJANGO_TRUSTED_PROXY_COUNT="1",
        DJANGO_ADMIN_REQUIRE_2FA="Superusers",
        DJANGO_AXES_LOCKOUT_BY="username+ip",
    ) == {
        "limit": 3,
        "cooloff": 3600.0,
        "proxies": 1,
        "policy": "superusers",
        "lockout": [["username", "ip_address"]],
    }


@pytest.mark.parametrize(
    "env", [{"DJANGO_ADMIN_REQUIRE_2FA": "yes"}, {"DJANGO_AXES_LOCKOUT_BY": "ip"}]
)
def test_unknown_staff_settings_stop_the_start(env):
    with pytest.raises(RuntimeError, match="ImproperlyConfigured"):
        read_settings(**env)


# --- two-factor login --------------------------------------------------------------------------


def add_device(username="operator") -> tuple[TOTPDevice, list[str], str]:
    out = io.StringIO()
    call_command("add_totp_device", username, stdout=out)
    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    printed = out.getvalue()
    codes = re.findall(r"^  ([a-z2-7]{4}-[a-z2-7]{4})$", printed, re.MULTILINE)
    return device, codes, printed


def test_add_totp_device_prints_the_url_a_qr_code_and_backup_codes(operator):
    device, codes, printed = add_device()
    assert device.config_url in printed
    assert "otpauth://totp/wxsite%3Aoperator?secret=" in printed
    assert "█" in printed or "▀" in printed  # the QR code, drawn in the terminal
    assert len(codes) == 10 and len(set(codes)) == 10
    assert StaticDevice.objects.get(user=operator).token_set.count() == 10


def test_add_totp_device_for_an_unknown_user_fails(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("add_totp_device", "nobody", stdout=io.StringIO())


def test_without_a_device_the_login_form_needs_no_code(client, operator):
    assert logged_in(log_in(client, "operator"))
    assert client.get(INDEX_URL).status_code == 200


def test_with_a_device_the_login_needs_the_current_code(client, operator, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp waits 1 s after a wrong code otherwise
    device, _, _ = add_device()
    for code in (None, "", "000000" if current_code(device) != "000000" else "111111"):
        response = log_in(client, "operator", code=code)
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
        # The same answer as a wrong password: it does not tell that the password was right.
        assert response.context["form"].errors["__all__"][0].startswith("请输入正确的")
    response = log_in(client, "operator", code=current_code(device))
    assert logged_in(response)
    assert client.get(INDEX_URL).status_code == 200


def test_a_backup_code_logs_in_once(client, operator, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0  # django-otp waits 1 s after a wrong code otherwise
    _, codes, _ = add_device()
    assert logged_in(log_in(client, "operator", code=codes[0].upper()))
    client.logout()
    assert log_in(client, "operator", code=codes[0]).status_code == 200
    assert logged_in(log_in(client, "operator", code=codes[1].replace("-", "")))


def test_wrong_codes_count_towards_the_lockout(client, operator):
    add_device()
    for n in range(5):
        response = log_in(client, "operator", code=f"{n:06d}")
    assert response.status_code == 429


def test_a_session_without_the_code_is_sent_back_to_the_login(client, operator):
    add_device()
    client.force_login(operator)  # password-only session, e.g. from before the device existed
    response = client.get(INDEX_URL)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL)


def test_2fa_is_optional_by_default(client, operator, editor, settings):
    assert settings.ADMIN_REQUIRE_2FA == "off"
    for user in (operator, editor):
        client.force_login(user)
        assert client.get(INDEX_URL).status_code == 200


def test_superusers_policy_refuses_a_superuser_without_a_device_and_says_why(
    client, operator, editor, settings
):
    settings.ADMIN_REQUIRE_2FA = "superusers"
    client.force_login(operator)
    response = client.get(INDEX_URL)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL)
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert page.status_code == 403
    html = page.content.decode()
    assert "python manage.py add_totp_device operator" in html
    assert "双重验证" in html and '<html lang="zh-hans"' in html
    # Editors are not superusers: they keep the admin.
    client.force_login(editor)
    assert client.get(INDEX_URL).status_code == 200


def test_staff_policy_refuses_every_staff_user_without_a_device(client, editor, settings):
    settings.ADMIN_REQUIRE_2FA = "staff"
    assert logged_in(log_in(client, "editor"))  # the password was right ...
    assert client.get(INDEX_URL).status_code == 302  # ... but it is not enough
    assert client.get(LOGIN_URL).status_code == 403


def test_a_refused_user_can_log_out(client, operator, settings):
    settings.ADMIN_REQUIRE_2FA = "superusers"
    client.force_login(operator)
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_with_a_device_a_required_user_logs_in_with_the_code(client, operator, settings):
    settings.ADMIN_REQUIRE_2FA = "staff"
    device, _, _ = add_device()
    assert logged_in(log_in(client, "operator", code=current_code(device)))
    assert client.get(INDEX_URL).status_code == 200


# --- self-service enrolment in the admin -------------------------------------------------------


def test_the_user_links_lead_to_the_two_factor_page(client, operator):
    client.force_login(operator)
    html = client.get(INDEX_URL).content.decode()
    assert f'href="{reverse("admin:two_factor")}"' in html


def test_enrolment_shows_a_qr_code_and_a_device_is_added_with_one_code(client, operator, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp waits 1 s after a wrong code otherwise
    client.force_login(operator)
    url = reverse("admin:two_factor")
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "<path" in html
    assert " style=" not in html and "<script>" not in html
    pending = TOTPDevice.objects.get(user=operator, confirmed=False)
    assert page.context["enrolment"].url == pending.config_url
    # Reloading keeps the same key: the phone may have scanned it already.
    client.get(url)
    assert TOTPDevice.objects.filter(user=operator).count() == 1

    wrong = "000000" if current_code(pending) != "000000" else "111111"
    response = client.post(url, {"token": wrong})
    assert response.status_code == 200 and response.context["form"].errors["token"]
    assert not two_factor.has_device(get_user_model().objects.get(pk=operator.pk))

    response = client.post(url, {"token": current_code(pending)})
    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 10
    pending.refresh_from_db()
    assert pending.confirmed
    # This session gave a code: it stays in, even where the policy now applies.
    assert client.get(INDEX_URL).status_code == 200
    # And the next login asks for a code.
    client.logout()
    assert log_in(client, "operator").status_code == 200
    assert logged_in(log_in(client, "operator", code=codes[0]))


def test_new_backup_codes_replace_the_old_ones(client, operator, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    _, old_codes, _ = add_device()
    assert logged_in(log_in(client, "operator", code=old_codes[0]))
    response = client.post(reverse("admin:two_factor"), {"new_backup_codes": "1"})
    new_codes = response.context["codes"]
    assert set(new_codes).isdisjoint(old_codes)
    client.logout()
    assert log_in(client, "operator", code=old_codes[1]).status_code == 200
    assert logged_in(log_in(client, "operator", code=new_codes[0]))


def test_a_user_who_must_enrol_cannot_do_it_with_the_password_alone(client, operator, settings):
    settings.ADMIN_REQUIRE_2FA = "superusers"
    client.force_login(operator)
    response = client.post(reverse("admin:two_factor"), {"token": "123456"})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL)
    assert not TOTPDevice.objects.filter(user=operator).exists()


# --- devices and attempts in the admin, in Chinese ---------------------------------------------


def test_the_admin_index_names_the_staff_pages_in_chinese(client, operator):
    client.force_login(operator)
    html = client.get(INDEX_URL, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    for name in ("员工账号", "身份验证器应用", "备用验证码", "登录尝试", "访问尝试", "登录记录"):
        assert name in html, name
    assert "TOTP devices" not in html and "Axes" not in html


def test_a_superuser_sees_and_deletes_a_lost_phone_but_never_its_key(client, operator, editor):
    device, _, _ = add_device("editor")
    client.force_login(operator)
    listing = client.get(
        reverse("admin:staff_authenticatorapp_changelist"), HTTP_ACCEPT_LANGUAGE="zh-CN"
    )
    html = listing.content.decode()
    assert listing.status_code == 200 and "editor" in html and "最近使用" in html
    detail = client.get(reverse("admin:staff_authenticatorapp_change", args=[device.pk]))
    assert detail.status_code == 200
    assert device.key not in detail.content.decode()
    assert client.get(reverse("admin:staff_authenticatorapp_add")).status_code == 403
    client.post(reverse("admin:staff_authenticatorapp_delete", args=[device.pk]), {"post": "yes"})
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


def test_locked_accounts_are_listed_in_chinese(client, operator):
    for n in range(5):
        log_in(client, "operator", f"wrong-{n}")
    client.force_login(operator)
    html = client.get(
        reverse("admin:axes_accessattempt_changelist"), HTTP_ACCEPT_LANGUAGE="zh-CN"
    ).content.decode()
    assert "访问尝试" in html and "已暂停登录" in html and "operator" in html
