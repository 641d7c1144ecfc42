"""export_rules, import_rules and load_demo_rules: the JSON document, idempotence, validation."""

import json
import re
from datetime import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation

from replies.management.commands.load_demo_rules import DEMO_RULES
from replies.models import ReplyRule, RuleReply, Trigger
from replies.protocol import parse_message
from replies.protocol.client import build_message_xml
from replies.rules import ruleset as matching
from replies.rules import transfer as rules_io
from replies.rules.choice import choose_reply
from replies.rules.ruleset import current_ruleset_version
from tests.factories import make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rule_index():
    matching.forget_rule_index()
    yield
    matching.forget_rule_index()


@pytest.fixture(autouse=True)
def english():
    # Form errors come in the deployment's language (zh-hans by default); assert on English.
    with translation.override("en"):
        yield


def run(command, *args):
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def make_sample_rules():
    make_rule(
        "营业时间",
        keywords=["几点", "营业"],
        match="contains",
        text="每天 9:00–18:00",
        priority=5,
        reply_mode="random",
    )
    make_rule(
        "下班",
        triggers=[("msg_type", "text", ""), ("default", "", "")],
        replies=[
            {"reply_type": "text", "content": "下班了"},
            {
                "reply_type": "news",
                "articles": [
                    {
                        "title": "A | B",
                        "description": "d",
                        "pic_url": "https://p.example/a.jpg",
                        "url": "https://a.example/",
                    }
                ],
            },
        ],
        enabled=False,
        daily_from=time(18, 0),
        daily_until=time(9, 0),
        starts_at=timezone.now().replace(microsecond=0),
    )
    make_rule(
        "菜单",
        triggers=[("click", "MENU_1", ""), ("subscribe", "", ""), ("keyword", r"^\d+$", "regex")],
        replies=[{"reply_type": "image", "media_id": "MEDIA_1"}],
    )


def export_to(path):
    run("export_rules", "-o", str(path))
    return json.loads(path.read_text(encoding="utf-8"))


# --- export -------------------------------------------------------------------------------------


def test_export_writes_every_rule_with_schedule_triggers_and_replies(tmp_path):
    make_sample_rules()

    document = export_to(tmp_path / "rules.json")

    assert (document["format"], document["version"]) == ("wxsite-rules", 1)
    assert [rule["name"] for rule in document["rules"]] == ["营业时间", "下班", "菜单"]
    hours, after_hours, menu = document["rules"]
    assert hours["priority"] == 5 and hours["reply_mode"] == "random"
    assert hours["triggers"] == [
        {"kind": "keyword", "match": "contains", "value": "几点"},
        {"kind": "keyword", "match": "contains", "value": "营业"},
    ]
    assert after_hours["enabled"] is False
    assert (after_hours["daily_from"], after_hours["daily_until"]) == ("18:00", "09:00")
    assert after_hours["starts_at"].endswith("+08:00")  # local time, with its offset
    assert after_hours["replies"][1] == {
        "type": "news",
        "articles": [
            {
                "title": "A | B",
                "description": "d",
                "pic_url": "https://p.example/a.jpg",
                "url": "https://a.example/",
            }
        ],
    }
    assert menu["triggers"][0] == {"kind": "click", "value": "MENU_1"}
    assert menu["replies"] == [{"type": "image", "media_id": "MEDIA_1"}]


def test_export_is_utf8_unescaped_and_indented(tmp_path):
    make_sample_rules()
    path = tmp_path / "rules.json"

    export_to(path)

    text = path.read_text(encoding="utf-8")
    assert "营业时间" in text and "\\u" not in text
    assert text.startswith('{\n  "format": "wxsite-rules",')
    assert text.endswith("}\n")


def test_export_to_stdout_prints_the_document():
    make_rule("one", keywords=["x"])

    assert json.loads(run("export_rules"))["rules"][0]["name"] == "one"


def test_export_order_is_creation_order_not_the_admin_order(tmp_path):
    make_rule("old, disabled, low", keywords=["a"], enabled=False)
    make_rule("new, enabled, high", keywords=["b"], priority=99)

    names = [rule["name"] for rule in export_to(tmp_path / "r.json")["rules"]]

    assert names == ["old, disabled, low", "new, enabled, high"]


# --- import -------------------------------------------------------------------------------------


def test_export_then_import_into_an_empty_database_gives_the_same_document(tmp_path):
    make_sample_rules()
    first = export_to(tmp_path / "first.json")
    ReplyRule.objects.all().delete()

    output = run("import_rules", str(tmp_path / "first.json"))

    assert "3 rules: 3 created." in output
    assert export_to(tmp_path / "second.json") == first


def test_importing_the_same_file_twice_changes_nothing_the_second_time(tmp_path):
    make_sample_rules()
    path = tmp_path / "rules.json"
    export_to(path)
    ReplyRule.objects.all().delete()
    run("import_rules", str(path))
    rows = list(ReplyRule.objects.values_list("id", "updated_at"))
    trigger_ids = list(Trigger.objects.values_list("id", flat=True))
    version = current_ruleset_version()

    output = run("import_rules", str(path))

    assert "unchanged 营业时间" in output
    assert "3 rules: 3 unchanged." in output
    assert list(ReplyRule.objects.values_list("id", "updated_at")) == rows
    assert list(Trigger.objects.values_list("id", flat=True)) == trigger_ids
    assert current_ruleset_version() == version


def test_changed_rule_is_updated_in_place_and_only_changed_parts_rewritten(tmp_path):
    make_sample_rules()
    path = tmp_path / "rules.json"
    document = export_to(path)
    rule = ReplyRule.objects.get(name="营业时间")
    trigger_ids = list(rule.triggers.values_list("id", flat=True))
    document["rules"][0]["replies"] = [{"type": "text", "content": "周末休息"}]
    document["rules"][0]["enabled"] = False
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    output = run("import_rules", str(path))

    assert "updated   营业时间 (enabled, replies)" in output
    rule.refresh_from_db()
    assert rule.enabled is False
    assert list(rule.replies.values_list("content", flat=True)) == ["周末休息"]
    assert list(rule.triggers.values_list("id", flat=True)) == trigger_ids


def test_new_rule_in_the_file_is_created_and_others_are_kept(tmp_path):
    make_rule("kept", keywords=["k"])
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            {
                "format": "wxsite-rules",
                "version": 1,
                "rules": [
                    {
                        "name": "新规则",
                        "triggers": [{"value": "新"}],
                        "replies": [{"content": "新的回复"}],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )

    output = run("import_rules", str(path))

    assert "created   新规则" in output
    assert set(ReplyRule.objects.values_list("name", flat=True)) == {"kept", "新规则"}
    created = ReplyRule.objects.get(name="新规则")
    # The document's defaults are the model's: enabled, priority 0, exact keyword, text reply.
    assert (created.enabled, created.priority, created.reply_mode) == (True, 0, "random")
    assert list(created.triggers.values_list("kind", "match", "value")) == [
        ("keyword", "exact", "新")
    ]


def test_replace_also_deletes_rules_the_file_does_not_name(tmp_path):
    make_rule("in the file", keywords=["a"])
    path = tmp_path / "rules.json"
    export_to(path)
    make_rule("not in the file", keywords=["b"])

    output = run("import_rules", str(path), "--replace")

    assert "deleted   not in the file" in output
    assert list(ReplyRule.objects.values_list("name", flat=True)) == ["in the file"]


def test_dry_run_reports_every_change_and_writes_nothing(tmp_path):
    make_rule("same", keywords=["s"])
    make_rule("changed", keywords=["c"])
    make_rule("extra", keywords=["e"])
    path = tmp_path / "rules.json"
    document = export_to(path)
    document["rules"] = [rule for rule in document["rules"] if rule["name"] != "extra"]
    document["rules"][1]["priority"] = 3
    document["rules"].append(
        {"name": "brand new", "triggers": [{"value": "n"}], "replies": [{"content": "n"}]}
    )
    path.write_text(json.dumps(document), encoding="utf-8")
    before = export_to(tmp_path / "before.json")
    version = current_ruleset_version()

    output = run("import_rules", str(path), "--dry-run", "--replace")

    assert output.splitlines() == [
        "unchanged same",
        "updated   changed (priority)",
        "created   brand new",
        "deleted   extra",
        "4 rules: 1 created, 1 updated, 1 unchanged, 1 deleted.",
        "Dry run: nothing was written.",
    ]
    assert export_to(tmp_path / "after.json") == before
    assert current_ruleset_version() == version


def test_import_bumps_the_version_so_workers_answer_with_the_new_rules(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            {
                "format": "wxsite-rules",
                "version": 1,
                "rules": [
                    {
                        "name": "hi",
                        "triggers": [{"value": "hi"}],
                        "replies": [{"content": "imported"}],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assert reply_to("hi") is None  # builds this worker's index before the import
    version = current_ruleset_version()

    run("import_rules", str(path))

    assert current_ruleset_version() > version
    assert reply_to("hi") == "imported"


def test_import_reads_standard_input():
    document = {
        "format": "wxsite-rules",
        "version": 1,
        "rules": [{"name": "s", "triggers": [{"value": "s"}], "replies": [{"content": "s"}]}],
    }
    out = StringIO()
    call_command("import_rules", "-", stdin=StringIO(json.dumps(document)), stdout=out)

    assert "created   s" in out.getvalue()


# --- refused files: nothing written -------------------------------------------------------------


def write(tmp_path, rules):
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps({"format": "wxsite-rules", "version": 1, "rules": rules}), encoding="utf-8"
    )
    return path


GOOD_RULE = {"name": "good", "triggers": [{"value": "ok"}], "replies": [{"content": "fine"}]}


def test_invalid_rule_is_refused_naming_rule_and_field_and_nothing_is_written(tmp_path):
    bad = {
        "name": "坏规则",
        "triggers": [{"value": "ok"}, {"match": "regex", "value": "(a)\\1"}],
        "replies": [{"type": "text", "content": "长" * 700}],
    }
    path = write(tmp_path, [GOOD_RULE, bad])

    with pytest.raises(CommandError) as raised:
        run("import_rules", str(path))

    message = str(raised.value)
    assert message.startswith("Nothing was imported:")
    assert "Rule 2 “坏规则”, trigger 2, value: This pattern cannot be used" in message
    assert "Rule 2 “坏规则”, reply 1, content: WeChat allows 2048 bytes" in message
    assert not ReplyRule.objects.exists()


@pytest.mark.parametrize(
    "rule, expected",
    [
        (
            {"name": "", **{k: GOOD_RULE[k] for k in ("triggers", "replies")}},
            "Rule 2, name: This field is required.",
        ),
        ({"name": "x" * 61, "triggers": [{"value": "a"}], "replies": [{"content": "a"}]}, "name:"),
        ({"name": "t", "replies": [{"content": "a"}]}, "A rule needs at least one trigger."),
        ({"name": "r", "triggers": [{"value": "a"}]}, "A rule needs at least one reply."),
        (
            {"name": "k", "triggers": [{"kind": "click"}], "replies": [{"content": "a"}]},
            "trigger 1, value: Enter the menu key.",
        ),
        (
            {"name": "m", "triggers": [{"value": "a"}], "replies": [{"type": "image"}]},
            "reply 1, media_id: A reply of this type needs this field.",
        ),
        (
            {"name": "u", "triggers": [{"value": "a"}], "replies": [{"type": "gif"}]},
            "reply 1, type:",
        ),
        (
            {
                "name": "n",
                "triggers": [{"value": "a"}],
                "replies": [{"type": "news", "articles": [{"title": "no url"}]}],
            },
            "Article 1 needs at least a title and a URL.",
        ),
        (
            {
                "name": "s",
                "triggers": [{"value": "a"}],
                "replies": [{"content": "a"}],
                "daily_from": "9:00",
                "daily_until": "9:00",
            },
            "daily_until: The daily hours start and end at the same time.",
        ),
        (
            {
                "name": "p",
                "priority": "high",
                "triggers": [{"value": "a"}],
                "replies": [{"content": "a"}],
            },
            "priority: Enter a whole number.",
        ),
        (
            {
                "name": "typo",
                "trigers": [],
                "triggers": [{"value": "a"}],
                "replies": [{"content": "a"}],
            },
            "unknown key(s) trigers",
        ),
        ("not an object", "Rule 1 must be an object."),
    ],
)
def test_each_kind_of_invalid_rule_is_refused_with_its_reason(tmp_path, rule, expected):
    path = write(tmp_path, [GOOD_RULE, rule] if isinstance(rule, dict) else [rule])

    with pytest.raises(CommandError) as raised:
        run("import_rules", str(path))

    assert expected in str(raised.value)
    assert not ReplyRule.objects.exists()


def test_two_rules_with_one_name_are_refused(tmp_path):
    path = write(tmp_path, [GOOD_RULE, GOOD_RULE])

    with pytest.raises(CommandError, match="2 rules are named “good”"):
        run("import_rules", str(path))


def test_ambiguous_name_in_the_database_is_refused(tmp_path):
    make_rule("good", keywords=["a"])
    make_rule("good", keywords=["b"])

    with pytest.raises(CommandError, match="Several rules in the database are named “good”"):
        run("import_rules", str(write(tmp_path, [GOOD_RULE])))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{not json", "is not JSON"),
        ('{"rules": []}', 'is not a wxsite rules file (no "format": "wxsite-rules")'),
        ('{"format": "wxsite-rules", "version": 2, "rules": []}', "has version 2"),
        ('{"format": "wxsite-rules", "version": 1}', 'has no "rules" list'),
    ],
)
def test_unreadable_documents_are_refused(tmp_path, text, expected):
    path = tmp_path / "rules.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(CommandError, match=re.escape(expected)):
        run("import_rules", str(path))


def test_form_errors_come_in_the_deployments_language(tmp_path):
    rule = {
        "name": "p",
        "priority": "high",
        "triggers": [{"value": "a"}],
        "replies": [GOOD_RULE["replies"][0]],
    }

    with translation.override("zh-hans"), pytest.raises(CommandError, match="priority: 输入整数"):
        run("import_rules", str(write(tmp_path, [rule])))


def test_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(CommandError, match="^No file .*nope.json.$"):
        run("import_rules", str(tmp_path / "nope.json"))


def test_failure_while_writing_rolls_back_the_whole_import(tmp_path, monkeypatch):
    make_rule("existing", keywords=["e"], text="before")
    path = write(
        tmp_path,
        [
            {"name": "existing", "triggers": [{"value": "e"}], "replies": [{"content": "after"}]},
            {"name": "second", "triggers": [{"value": "s"}], "replies": [{"content": "s"}]},
        ],
    )
    real_bulk_create = RuleReply.objects.bulk_create
    calls = []

    def failing_bulk_create(objs, *args, **kwargs):
        calls.append(objs)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(RuleReply.objects, "bulk_create", failing_bulk_create)

    with pytest.raises(RuntimeError):
        run("import_rules", str(path))

    assert list(ReplyRule.objects.values_list("name", flat=True)) == ["existing"]
    assert list(RuleReply.objects.values_list("content", flat=True)) == ["before"]


# --- demo rules ---------------------------------------------------------------------------------


def reply_to(text="", *, msg_type="text", **fields):
    if msg_type == "text":
        fields["Content"] = text
    xml = build_message_xml(
        msg_type=msg_type, from_user="o_demo", to_user="gh_demo", create_time=1, **fields
    )
    choice = choose_reply(parse_message(xml), now=timezone.now())
    if choice is None:
        return None
    return getattr(choice.reply, "content", choice.reply)


def test_demo_rules_load_once_and_a_second_load_changes_nothing():
    first = run("load_demo_rules")
    second = run("load_demo_rules")

    assert "8 rules: 8 created." in first
    assert "8 rules: 8 unchanged." in second
    assert ReplyRule.objects.count() == 8


def test_demo_rules_answer_what_they_promise():
    run("load_demo_rules")

    assert "感谢关注" in reply_to(msg_type="event", Event="subscribe")
    assert reply_to("你好") in {reply.content for reply in demo_replies("问候")}
    assert reply_to("HELLO") in {reply.content for reply in demo_replies("问候")}
    assert "当前价格" in reply_to("请问价格是多少")
    assert "您可以回复" in reply_to("帮助")
    assert "您可以回复" in reply_to(msg_type="event", Event="CLICK", EventKey="MENU_HELP")
    assert "订单号" in reply_to("订单 2024061800123")
    assert "图片已收到" in reply_to(msg_type="image", PicUrl="http://p/1", MediaId="M")
    assert "没有理解" in reply_to("随便说点什么")


def test_demo_out_of_office_rule_is_disabled_with_evening_hours():
    run("load_demo_rules")

    rule = ReplyRule.objects.get(name="下班时间")
    assert rule.enabled is False
    assert (rule.daily_from, rule.daily_until) == (time(18, 0), time(9, 0))


def test_demo_file_is_exactly_what_export_writes(tmp_path):
    run("load_demo_rules")

    exported = export_to(tmp_path / "demo.json")

    assert exported == json.loads(DEMO_RULES.read_text(encoding="utf-8"))


def demo_replies(name):
    return RuleReply.objects.filter(rule__name=name)


def test_document_helpers_round_trip_without_commands():
    make_rule("x", keywords=["x"])

    text = rules_io.dump_document(rules_io.export_document())
    plan = rules_io.apply_rules(rules_io.load_document(text))

    assert plan.summary() == "1 rule: 1 unchanged."
