"""The security log counts every refused request; a flood cannot push another event out of it."""

import types
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db.models import Sum

from replies.endpoint import security_log as security
from replies.models import SecurityEvent

pytestmark = pytest.mark.django_db


def forge(wechat, *, ip="198.51.100.7", agent="curl/8", openid="o_attacker"):
    """POST a message whose signature is wrong, from `ip`."""
    query, body = wechat.signed(wechat.xml("text", Content="x"))
    query["signature"] = "0" * 40
    query["openid"] = openid
    response = wechat.client.post(
        f"/wechat/?{urlencode(query)}",
        data=body,
        content_type="text/xml",
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=agent,
    )
    assert response.status_code == 403
    return body


def total() -> int:
    return SecurityEvent.objects.aggregate(total=Sum("count"))["total"] or 0


def test_a_flood_from_one_address_leaves_the_other_address_its_own_detailed_row(
    wechat, monkeypatch
):
    # 500 requests take seconds: all in one minute, as if they came faster (rows are per minute).
    minute = datetime.now(UTC).replace(second=30)
    monkeypatch.setattr(security, "timezone", types.SimpleNamespace(now=lambda: minute))
    for _ in range(500):
        forge(wechat, ip="198.51.100.7")
    body = forge(wechat, ip="203.0.113.9", agent="the-one-that-matters/1.0", openid="o_victim")
    assert total() == 501
    flood = SecurityEvent.objects.get(ip="198.51.100.7")
    assert flood.count == 500 and flood.code == "invalid_signature"
    other = SecurityEvent.objects.get(ip="203.0.113.9")
    assert other.count == 1 and not other.overflow
    assert other.user_agent == "the-one-that-matters/1.0" and other.openid == "o_victim"
    assert other.body_bytes == len(body) and other.body_excerpt == body[:500].decode()
    assert "signature=" + "0" * 40 in other.query
    assert SecurityEvent.objects.count() == 2


def test_repeats_update_the_count_and_the_last_seen_time(wechat):
    forge(wechat)
    first = SecurityEvent.objects.get()
    forge(wechat)
    again = SecurityEvent.objects.get()
    assert again.count == 2 and again.occurred_at == first.occurred_at
    assert again.last_seen_at >= first.last_seen_at


def test_past_the_row_budget_requests_are_counted_in_an_overflow_row(wechat, monkeypatch):
    monkeypatch.setattr(security, "_throttle", security._Throttle(3))
    for n in range(10):
        forge(wechat, ip=f"192.0.2.{n}")
        forge(wechat, ip=f"192.0.2.{n}")
    assert total() == 20
    detailed = SecurityEvent.objects.filter(overflow=False).order_by("ip")
    assert [(e.ip, e.count) for e in detailed] == [(f"192.0.2.{n}", 2) for n in range(3)]
    overflow = SecurityEvent.objects.get(overflow=True)
    assert overflow.count == 14 and overflow.code == "invalid_signature"
    assert overflow.ip == "192.0.2.3"  # the first request past the budget keeps its detail


def test_addresses_of_one_ipv6_64_are_counted_together(wechat):
    forge(wechat, ip="2001:db8:1:2::1")
    forge(wechat, ip="2001:db8:1:2:ffff::9")
    forge(wechat, ip="2001:db8:1:3::1")
    rows = SecurityEvent.objects.order_by("ip")
    assert [(e.ip, e.count) for e in rows] == [("2001:db8:1:2::1", 2), ("2001:db8:1:3::1", 1)]


def test_each_minute_has_its_own_row(wechat, monkeypatch):
    clock = [datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)]
    monkeypatch.setattr(security, "timezone", types.SimpleNamespace(now=lambda: clock[0]))
    forge(wechat)
    forge(wechat)
    clock[0] += timedelta(minutes=1)
    forge(wechat)
    assert list(SecurityEvent.objects.order_by("occurred_at").values_list("count", flat=True)) == [
        2,
        1,
    ]


def test_a_row_created_by_another_worker_meanwhile_is_counted_not_duplicated(wechat, monkeypatch):
    forge(wechat)
    real_add_repeat = security._add_repeat
    calls = []

    def first_misses(bucket, now):  # the row appears between our UPDATE and our INSERT
        calls.append(bucket)
        return False if len(calls) == 1 else real_add_repeat(bucket, now)

    monkeypatch.setattr(security, "_add_repeat", first_misses)
    forge(wechat)
    assert SecurityEvent.objects.get().count == 2


def test_the_admin_shows_the_count(admin_client, wechat):
    for _ in range(3):
        forge(wechat)
    listing = admin_client.get("/admin/replies/securityevent/")
    assert listing.status_code == 200
    assert b'class="field-count">3<' in listing.content
    event = SecurityEvent.objects.get()
    detail = admin_client.get(f"/admin/replies/securityevent/{event.pk}/change/")
    assert detail.status_code == 200 and b"last_seen_at" in detail.content
