"""Rules answer followers through the endpoint; edits reach the index at once."""

import time
from uuid import uuid4

import pytest
from django.utils import timezone

from accounts.environment import environment_account_id
from replies.models import Message, ReplyRule, RulesetVersion
from replies.protocol import parse_xml
from replies.rules import ruleset as matching
from tests.factories import make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_index():
    matching.forget_rule_index()
    yield
    matching.forget_rule_index()


def reply_to(wechat, msg_type="text", **fields):
    response = wechat.post(wechat.xml(msg_type, **fields))
    assert response.status_code == 200
    return None if response.content == b"success" else parse_xml(response.content)


def test_keyword_rule_answers_and_the_log_records_the_rule(wechat):
    rule = make_rule("价格", keywords=["价格"], text="99 元")
    assert reply_to(wechat, Content="价格")["Content"] == "99 元"
    row = Message.objects.get()
    assert row.rule_id == rule.pk and row.rule_name == "价格"


def test_full_width_and_case_match_by_nfkc(wechat):
    make_rule(keywords=["hello"], text="hi!")
    assert reply_to(wechat, Content="  ＨＥＬＬＯ ")["Content"] == "hi!"


@pytest.mark.parametrize(
    "match, keyword, text, hit",
    [
        ("exact", "营业时间", "营业时间", True),
        ("exact", "营业时间", "营业时间？", False),
        ("contains", "时间", "请问营业时间", True),
        ("prefix", "订单", "订单12345", True),
        ("prefix", "订单", "我的订单", False),
        ("regex", r"^订单\d{5}$", "订单12345", True),
        ("regex", r"^订单\d{5}$", "订单1234", False),
    ],
)
def test_each_keyword_mode(wechat, match, keyword, text, hit):
    make_rule(keywords=[keyword], match=match, text="matched")
    answer = reply_to(wechat, Content=text)
    assert (answer is not None and answer["Content"] == "matched") is hit


def test_voice_recognition_matches_keywords_without_trailing_punctuation(wechat):
    make_rule(keywords=["价格"], text="99 元")
    answer = reply_to(wechat, "voice", MediaId="m", Format="amr", Recognition="价格。")
    assert answer["Content"] == "99 元"


def test_follow_greeting_and_qr_scene_follow(wechat):
    make_rule("welcome", triggers=[("subscribe", "", "")], text="欢迎关注")
    make_rule("scene 7", triggers=[("subscribe", "7", "")], text="欢迎来自门店 7")
    assert reply_to(wechat, "event", Event="subscribe")["Content"] == "欢迎关注"
    answer = reply_to(wechat, "event", Event="subscribe", EventKey="qrscene_7", Ticket="t")
    assert answer["Content"] == "欢迎来自门店 7"


def test_menu_click_and_scan_scene(wechat):
    make_rule(triggers=[("click", "MENU_1", "")], text="菜单一")
    make_rule(triggers=[("scan", "42", "")], text="扫码 42")
    assert reply_to(wechat, "event", Event="CLICK", EventKey="MENU_1")["Content"] == "菜单一"
    assert (
        reply_to(wechat, "event", Event="SCAN", EventKey="42", Ticket="t")["Content"] == "扫码 42"
    )
    assert reply_to(wechat, "event", Event="CLICK", EventKey="MENU_2") is None


def test_message_type_rule_and_default_rule(wechat):
    make_rule(triggers=[("msg_type", "image", "")], text="收到图片")
    make_rule("default", triggers=[("default", "", "")], text="默认回复", priority=100)
    make_rule(keywords=["hi"], text="hello")
    assert reply_to(wechat, "image", PicUrl="http://x/y.jpg", MediaId="m")["Content"] == "收到图片"
    assert reply_to(wechat, Content="hi")["Content"] == "hello"
    assert reply_to(wechat, Content="anything else")["Content"] == "默认回复"
    assert reply_to(wechat, "event", Event="unsubscribe") is None


def test_priority_then_strength_then_age(wechat):
    make_rule("old contains", keywords=["价"], match="contains", text="contains")
    make_rule("exact", keywords=["价格"], text="exact")
    assert reply_to(wechat, Content="价格")["Content"] == "exact"
    make_rule("urgent contains", keywords=["价"], match="contains", text="urgent", priority=5)
    assert reply_to(wechat, Content="价格")["Content"] == "urgent"


def test_schedule_out_of_hours(wechat):
    now = timezone.localtime()
    make_rule("always", keywords=["hours"], text="9–18")
    make_rule(
        "off",
        keywords=["hours"],
        text="closed",
        priority=1,
        ends_at=now - timezone.timedelta(minutes=1),
    )
    assert reply_to(wechat, Content="hours")["Content"] == "9–18"
    make_rule(
        "now",
        keywords=["hours"],
        text="open now",
        priority=2,
        starts_at=now - timezone.timedelta(hours=1),
    )
    assert reply_to(wechat, Content="hours")["Content"] == "open now"


def test_disabled_rule_does_not_answer(wechat):
    rule = make_rule(keywords=["hi"], text="hello")
    rule.enabled = False
    rule.save()
    assert reply_to(wechat, Content="hi") is None


def test_random_reply_mode_uses_every_reply(wechat):
    make_rule(
        keywords=["roll"],
        reply_mode="random",
        replies=[{"reply_type": "text", "content": str(n)} for n in range(3)],
    )
    seen = {reply_to(wechat, Content="roll")["Content"] for _ in range(40)}
    assert seen == {"0", "1", "2"}


def test_every_reply_type_from_a_rule(wechat):
    make_rule(
        keywords=["news"],
        replies=[
            {
                "reply_type": "news",
                "articles": [
                    {"title": "A", "url": "https://a"},
                    {"title": "B", "url": "https://b"},
                ],
            }
        ],
    )
    make_rule(
        triggers=[("click", "NEWS", "")],
        replies=[
            {
                "reply_type": "news",
                "articles": [
                    {"title": "A", "url": "https://a"},
                    {"title": "B", "url": "https://b"},
                ],
            }
        ],
    )
    make_rule(
        keywords=["music"],
        replies=[
            {
                "reply_type": "music",
                "title": "t",
                "music_url": "https://m/a.mp3",
                "thumb_media_id": "th",
            }
        ],
    )
    make_rule(keywords=["kf"], replies=[{"reply_type": "transfer_customer_service"}])
    assert reply_to(wechat, Content="news")["ArticleCount"] == "1"
    assert reply_to(wechat, "event", Event="CLICK", EventKey="NEWS")["ArticleCount"] == "2"
    assert reply_to(wechat, Content="music")["Music"]["MusicUrl"] == "https://m/a.mp3"
    assert reply_to(wechat, Content="kf")["MsgType"] == "transfer_customer_service"


def test_every_edit_bumps_the_version_and_the_next_message_uses_it(wechat):
    rule = make_rule(keywords=["hi"], text="v1")
    assert reply_to(wechat, Content="hi")["Content"] == "v1"
    before = RulesetVersion.objects.get().version
    reply = rule.replies.get()
    reply.content = "v2"
    reply.save()
    assert RulesetVersion.objects.get().version > before
    assert reply_to(wechat, Content="hi")["Content"] == "v2"
    rule.triggers.update(value="hey")  # no signal: not seen until the next real save
    ReplyRule.objects.get().save()
    assert reply_to(wechat, Content="hey")["Content"] == "v2"


def test_index_is_not_rebuilt_when_nothing_changed(wechat, django_assert_max_num_queries):
    make_rule(keywords=["hi"], text="v1")
    reply_to(wechat, Content="hi")
    # one version read + one INSERT (inside a savepoint) per message; no rule queries
    with django_assert_max_num_queries(4):
        reply_to(wechat, Content="hi")


def test_shared_cache_carries_the_version(wechat, settings):
    """Under a key prefix of this test's own: the cache may be a shared Redis (CACHE_URL), so
    the test neither clears it nor reads anyone else's version, and deletes only its key."""
    settings.SHARED_CACHE = True
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"wxsite-test-{uuid4().hex}"}
    }
    from django.core.cache import cache

    shared = matching.version_cache_key(None)  # the counter of rules for every account
    own = matching.version_cache_key(environment_account_id())
    try:
        assert cache.get(shared) is None
        make_rule(keywords=["hi"], text="v1")
        assert reply_to(wechat, Content="hi")["Content"] == "v1"
        assert cache.get(shared) == RulesetVersion.objects.get(account=None).version
        assert cache.get(own) == 0  # no rule of the account's own yet
    finally:
        cache.delete_many([shared, own])


def test_unreachable_database_keeps_the_last_index(monkeypatch):
    from django.db import DatabaseError

    make_rule(keywords=["hi"], text="v1")
    index = matching.get_rule_index()

    def broken(**_):
        raise DatabaseError("down")

    monkeypatch.setattr(matching, "current_ruleset_version", broken)
    assert matching.get_rule_index() is index


def test_retry_after_an_edit_still_gets_the_first_reply(wechat):
    rule = make_rule(keywords=["hi"], text="first")
    query, body = wechat.signed(wechat.xml("text", Content="hi"))
    first = wechat.post_raw(query, body).content
    rule.replies.update(content="changed")
    rule.save()
    time.sleep(0.01)
    assert wechat.post_raw(query, body).content == first


def test_a_broken_rule_row_is_skipped_and_the_others_still_answer(wechat, caplog):
    broken = make_rule("broken", keywords=["坏"], text="x")
    broken.replies.update(reply_type="hologram")  # bypasses the forms, as a hand edit would
    broken.save()
    make_rule("fine", keywords=["好"], text="ok")
    assert reply_to(wechat, Content="好")["Content"] == "ok"
    assert reply_to(wechat, Content="坏") is None
    assert any("cannot be used" in record.getMessage() for record in caplog.records)


def test_a_worker_reads_the_rule_version_at_most_once_per_staleness_bound(
    settings, django_assert_num_queries
):
    from replies.rules.ruleset import forget_rule_index, get_rule_index

    settings.WECHAT_RULES_MAX_STALENESS = 3600
    forget_rule_index()
    get_rule_index()  # reads the version and builds
    with django_assert_num_queries(0):
        for _ in range(50):
            get_rule_index()


def test_an_edit_committed_in_this_worker_is_seen_at_once_despite_the_bound(
    settings, wechat, django_capture_on_commit_callbacks
):
    settings.WECHAT_RULES_MAX_STALENESS = 3600
    make_rule("first", keywords=["bound"], text="v1")
    assert reply_to(wechat, Content="bound")["Content"] == "v1"
    with django_capture_on_commit_callbacks(execute=True):
        make_rule("second", keywords=["bound"], text="v2", priority=9)
    assert reply_to(wechat, Content="bound")["Content"] == "v2"
