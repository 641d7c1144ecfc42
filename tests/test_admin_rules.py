"""Operators edit rules in the admin: validation, warnings, list, actions and the tester."""

import re

import pytest
from django.urls import reverse

from replies.models import ReplyRule
from replies.protocol import parse_xml
from replies.rules import ruleset as matching
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/replies/replyrule/add/"


@pytest.fixture(autouse=True)
def fresh_index():
    matching.forget_rule_index()


def rule_form(*, name="价格", triggers=(("keyword", "exact", "价格"),), replies=None, **fields):
    """POST data for the rule add form, inlines included."""
    replies = replies if replies is not None else [{"reply_type": "text", "content": "99 元"}]
    data = {
        "name": name,
        "enabled": "on",
        "priority": "0",
        "reply_mode": "first",
        "triggers-TOTAL_FORMS": str(len(triggers)),
        "triggers-INITIAL_FORMS": "0",
        "triggers-MIN_NUM_FORMS": "1",
        "triggers-MAX_NUM_FORMS": "1000",
        "replies-TOTAL_FORMS": str(len(replies)),
        "replies-INITIAL_FORMS": "0",
        "replies-MIN_NUM_FORMS": "1",
        "replies-MAX_NUM_FORMS": "1000",
    }
    for i, (kind, match, value) in enumerate(triggers):
        data |= {
            f"triggers-{i}-kind": kind,
            f"triggers-{i}-match": match,
            f"triggers-{i}-value": value,
        }
    for i, reply in enumerate(replies):
        data |= {f"replies-{i}-position": str(i)}
        for key, value in reply.items():
            if key == "articles":  # rows of inputs: replies-0-articles-<row>-<field>
                for row, article in enumerate(value):
                    data |= {f"replies-{i}-articles-{row}-{k}": v for k, v in article.items()}
            else:
                data[f"replies-{i}-{key}"] = value
    data |= {key: str(value) for key, value in fields.items()}
    return data


def test_rule_created_in_the_admin_answers_the_next_message(admin_client, wechat):
    response = admin_client.post(ADD_URL, rule_form())
    assert response.status_code == 302, response.context and response.context["errors"]
    answer = wechat.post(wechat.xml("text", Content="价格"))
    assert parse_xml(answer.content)["Content"] == "99 元"


@pytest.mark.parametrize(
    "form, message",
    [
        (rule_form(triggers=(("keyword", "regex", "(a)\\1"),)), "cannot be used"),
        (rule_form(triggers=(("keyword", "regex", "(?=x)y"),)), "cannot be used"),
        (rule_form(triggers=(("keyword", "exact", "长" * 31),)), "at most 30"),
        (rule_form(triggers=(("keyword", "exact", "   "),)), "Enter a keyword"),
        (rule_form(triggers=(("click", "", ""),)), "menu key"),
        (rule_form(triggers=(("msg_type", "", "sticker"),)), "Enter one of"),
        (rule_form(triggers=()), "at least one trigger"),
        (rule_form(replies=[]), "at least one reply"),
        (rule_form(replies=[{"reply_type": "text", "content": "字" * 700}]), "2048 bytes"),
        (rule_form(replies=[{"reply_type": "image", "media_id": ""}]), "needs this field"),
        (
            rule_form(
                replies=[
                    {
                        "reply_type": "news",
                        "articles": [{"title": f"t{i}", "url": f"https://u/{i}"} for i in range(9)],
                    }
                ]
            ),
            "at most 8",
        ),
        (
            rule_form(replies=[{"reply_type": "news", "articles": [{"title": "title only"}]}]),
            "title and a URL",
        ),
        (rule_form(replies=[{"reply_type": "music", "thumb_media_id": "t"}]), "music URL"),
        (
            rule_form(
                starts_at_0="2026-01-02",
                starts_at_1="00:00",
                ends_at_0="2026-01-01",
                ends_at_1="00:00",
            ),
            "end must come after",
        ),
    ],
)
def test_invalid_rules_are_refused_with_a_message_and_nothing_saved(
    admin_client, settings, form, message
):
    settings.LANGUAGE_CODE = "en"
    response = admin_client.post(ADD_URL, form, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert message in response.content.decode()
    assert ReplyRule.objects.count() == 0


def test_catastrophic_regex_is_accepted_because_re2_runs_it_in_linear_time(
    admin_client, wechat, monkeypatch
):
    """`(a+)+$` would stall a backtracking engine on "a"*30 + "!"; it is safe to accept
    only because RE2, not Python's re, runs it (RE2's speed is measured in bench/)."""
    response = admin_client.post(ADD_URL, rule_form(triggers=(("keyword", "regex", "(a+)+$"),)))
    assert response.status_code == 302
    compiled_by_python_re = []
    real_compile = re._compile

    def spy(pattern, flags):
        compiled_by_python_re.append(pattern)
        return real_compile(pattern, flags)

    monkeypatch.setattr(re, "_compile", spy)
    refused = wechat.post(wechat.xml("text", Content="a" * 30 + "!"))
    answered = wechat.post(wechat.xml("text", Content="aaaa"))
    assert refused.status_code == answered.status_code == 200
    assert refused.content == b"success"  # no match, no reply
    assert parse_xml(answered.content)["Content"] == "99 元"
    assert not [p for p in compiled_by_python_re if "a+" in str(p)], compiled_by_python_re
    index = matching.get_rule_index()
    regexes = [compiled for _, compiled in index._regexes]
    assert len(regexes) == 1 and type(regexes[0]).__module__.split(".")[0] in {"re2", "_re2"}


def test_duplicate_keyword_and_shadowed_rule_warn(admin_client):
    make_rule("wide", keywords=["价"], match="contains", priority=10)
    response = admin_client.post(
        ADD_URL, rule_form(name="narrow"), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    text = response.content.decode()
    assert "never answers" in text and "wide" in text
    response = admin_client.post(
        ADD_URL, rule_form(name="twin"), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "also a trigger of rule" in response.content.decode()


def test_rule_list_shows_triggers_hits_and_order(admin_client, wechat):
    make_rule("价格", keywords=["价格"], text="99 元")
    wechat.post(wechat.xml("text", Content="价格"))
    wechat.post(wechat.xml("text", Content="价格"))
    response = admin_client.get("/admin/replies/replyrule/", HTTP_ACCEPT_LANGUAGE="en")
    text = response.content.decode()
    assert "价格" in text and "text: 99 元" in text
    assert response.context["cl"].result_list[0].hit_count == 2
    assert "Which rule answers" in text


def test_enable_disable_and_duplicate_actions(admin_client, wechat):
    rule = make_rule("价格", keywords=["价格"], text="99 元")
    url = "/admin/replies/replyrule/"
    admin_client.post(url, {"action": "disable_rules", "_selected_action": [rule.pk]})
    assert wechat.post(wechat.xml("text", Content="价格")).content == b"success"
    admin_client.post(url, {"action": "enable_rules", "_selected_action": [rule.pk]})
    assert parse_xml(wechat.post(wechat.xml("text", Content="价格")).content)["Content"] == "99 元"
    admin_client.post(url, {"action": "duplicate_rules", "_selected_action": [rule.pk]})
    copy = ReplyRule.objects.exclude(pk=rule.pk).get()
    assert not copy.enabled
    assert list(copy.triggers.values_list("value", flat=True)) == ["价格"]
    assert list(copy.replies.values_list("content", flat=True)) == ["99 元"]


def test_priority_is_editable_in_the_list(admin_client, wechat):
    low = make_rule("low", keywords=["价"], match="contains", text="low")
    high = make_rule("high", keywords=["价格"], text="high")
    assert parse_xml(wechat.post(wechat.xml("text", Content="价格")).content)["Content"] == "high"
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "form-0-id": str(low.pk),
        "form-0-enabled": "on",
        "form-0-priority": "9",
        "form-1-id": str(high.pk),
        "form-1-enabled": "on",
        "form-1-priority": "0",
        "_save": "Save",
    }
    response = admin_client.post("/admin/replies/replyrule/", data)
    assert response.status_code == 302
    assert parse_xml(wechat.post(wechat.xml("text", Content="价格")).content)["Content"] == "low"


def test_tester_shows_the_winner_why_and_the_exact_reply_xml(admin_client):
    make_rule("wide", keywords=["价"], match="contains", text="contains")
    make_rule("exact", keywords=["价格"], text="99 元 <&>")
    url = reverse("admin:replies_replyrule_tester")
    response = admin_client.get(
        url, {"msg_type": "text", "text": "价格"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert result.winner.rule.name == "exact"
    assert [match.rule.name for match, _ in result.ranked] == ["exact", "wide"]
    assert parse_xml(result.reply_xml.encode())["Content"] == "99 元 <&>"
    assert "99 元 &lt;&amp;&gt;" in response.content.decode()
    from replies.models import Message

    assert Message.objects.count() == 0


def test_tester_runs_events(admin_client):
    make_rule("menu", triggers=[("click", "MENU_1", "")], text="菜单")
    url = reverse("admin:replies_replyrule_tester")
    response = admin_client.get(url, {"msg_type": "event", "event": "click", "event_key": "MENU_1"})
    assert response.context["result"].winner.rule.name == "menu"
    response = admin_client.get(url, {"msg_type": "event", "event": "click", "event_key": "OTHER"})
    assert response.context["result"].winner is None


def test_admin_speaks_simplified_chinese_by_default(admin_client):
    response = admin_client.get("/admin/replies/replyrule/")
    assert "回复规则" in response.content.decode()


def test_admin_requires_login(client):
    response = client.get("/admin/replies/replyrule/tester/")
    assert response.status_code == 302 and "/login/" in response["Location"]
