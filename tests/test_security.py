"""Refused requests that look like attacks are recorded; staff groups limit who does what."""

import pytest
from django.contrib.auth.models import Group, User

from replies.groups import LOG_READERS, RULE_EDITORS
from replies.models import Message, SecurityEvent
from tests.conftest import AES_KEY, TOKEN

pytestmark = pytest.mark.django_db


def test_bad_signature_is_recorded_without_secrets(wechat):
    query, body = wechat.signed(wechat.xml("text", Content="x"))
    query["signature"] = "0" * 40
    query["openid"] = "o_attacker"
    response = wechat.client.post(
        "/wechat/?" + "&".join(f"{k}={v}" for k, v in query.items()),
        data=body,
        content_type="text/xml",
        HTTP_USER_AGENT="curl/8",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert response.status_code == 403
    event = SecurityEvent.objects.get()
    assert event.code == "invalid_signature" and event.status == 403
    assert event.openid == "o_attacker" and event.forwarded_for == "203.0.113.9"
    assert event.user_agent == "curl/8" and event.body_bytes == len(body)
    stored = " ".join(str(v) for v in event.__dict__.values())
    assert TOKEN not in stored and AES_KEY not in stored


def test_replay_with_another_body_is_recorded(wechat):
    query, body = wechat.signed(wechat.xml("text", Content="original"))
    wechat.post_raw(query, body)
    wechat.post_raw(query, wechat.xml("text", Content="forged"))
    assert list(SecurityEvent.objects.values_list("code", flat=True)) == ["replayed_request"]


def test_endpoint_errors_have_one_home_imported_at_module_top():
    """errors.py holds the endpoint's errors; security_log imports them at the top, with no
    function-level import of handling (that was an import cycle)."""
    import ast
    import inspect

    from replies.endpoint import errors, handling, security_log, views

    assert handling.ReplayedRequest is errors.ReplayedRequest
    assert handling.StorageUnavailable is errors.StorageUnavailable
    assert views.PlaintextRefused is errors.PlaintextRefused
    assert security_log.ReplayedRequest is errors.ReplayedRequest
    tree = ast.parse(inspect.getsource(security_log))
    nested = [
        node
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert nested == []


def test_plain_malformed_input_is_logged_but_not_recorded(wechat):
    query, _ = wechat.signed(wechat.xml("text", Content="x"))
    assert wechat.post_raw(query, b"not xml").status_code == 400
    assert SecurityEvent.objects.count() == 0


def test_new_rows_are_budgeted_but_every_request_is_counted(wechat, monkeypatch):
    from django.db.models import Sum

    from replies.endpoint import security_log as security

    monkeypatch.setattr(security, "_throttle", security._Throttle(3))
    query, body = wechat.signed(wechat.xml("text", Content="x"))
    query["signature"] = "f" * 40
    for n in range(6):
        wechat.client.post(
            "/wechat/?" + "&".join(f"{k}={v}" for k, v in query.items()),
            data=body,
            content_type="text/xml",
            REMOTE_ADDR=f"192.0.2.{n}",
        )
    assert SecurityEvent.objects.filter(overflow=False).count() == 3
    assert SecurityEvent.objects.get(overflow=True).count == 3
    assert SecurityEvent.objects.aggregate(total=Sum("count"))["total"] == 6


def test_required_encryption_refuses_plaintext_but_takes_safe_mode(wechat, settings):
    settings.WECHAT_REQUIRE_ENCRYPTION = True
    assert wechat.post(wechat.xml("text", Content="plain")).status_code == 403
    assert wechat.post(wechat.xml("text", Content="safe"), mode="aes").status_code == 200
    assert list(Message.objects.values_list("content", flat=True)) == ["safe"]


def test_security_events_are_read_only_in_the_admin(admin_client, wechat):
    query, body = wechat.signed(wechat.xml("text", Content="x"))
    query["signature"] = "1" * 40
    wechat.post_raw(query, body)
    event = SecurityEvent.objects.get()
    assert admin_client.get("/admin/replies/securityevent/").status_code == 200
    detail = admin_client.get(f"/admin/replies/securityevent/{event.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert admin_client.get("/admin/replies/securityevent/add/").status_code == 403


def staff(group_name):
    user = User.objects.create_user(f"u-{group_name}", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


def test_log_readers_read_messages_but_cannot_edit_rules(client):
    client.force_login(staff(LOG_READERS))
    assert client.get("/admin/replies/message/").status_code == 200
    assert client.get("/admin/replies/replyrule/").status_code == 200
    assert client.get("/admin/replies/replyrule/add/").status_code == 403
    assert client.get("/admin/replies/replyrule/tester/").status_code == 200


def test_rule_editors_edit_rules(client):
    client.force_login(staff(RULE_EDITORS))
    assert client.get("/admin/replies/replyrule/add/").status_code == 200
    assert client.get("/admin/replies/message/").status_code == 200


def test_staff_without_a_group_see_nothing(client):
    client.force_login(User.objects.create_user("plain", password="pw", is_staff=True))
    assert client.get("/admin/replies/message/").status_code == 403
    assert client.get("/admin/replies/replyrule/tester/").status_code == 403


def test_admin_url_is_configurable():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django; django.setup(); from django.urls import reverse;"
        "print(reverse('admin:index'))"
    )
    env = dict(os.environ, DJANGO_ADMIN_URL="staff-7f3a/", DJANGO_SETTINGS_MODULE="wxsite.settings")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.strip() == "/staff-7f3a/"
