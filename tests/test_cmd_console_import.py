"""import_console_rules: the WeChat console's auto-reply JSON becomes wxsite rules."""

import json
import socket
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation

from replies.models import ReplyRule
from replies.protocol import parse_message
from replies.protocol.client import build_message_xml
from replies.rules import ruleset as matching
from replies.rules.choice import choose_reply
from replies.rules.console_import import convert_console_rules
from replies.rules.transfer import export_document
from wechat_api.fake import FakeWeChatAPI

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).parent / "fixtures" / "console_autoreply.json"
SAMPLE_INFO = json.loads(SAMPLE.read_text(encoding="utf-8"))

NEWS_ARTICLES = [
    {
        "title": "夏季新品上市",
        "description": "清凉一夏，新品八折",
        "pic_url": "http://mmbiz.qpic.cn/mmbiz/GE7et87vE9vicuCibqXsX9GPPLuEtBfXfKbE8sWdt2DDcL0dMfQWJWTVn1N8DxI0gcRmrtqBOuwQHeuPKmFLK0ZQ/0",
        "url": "http://mp.weixin.qq.com/s?__biz=MjM5ODUwNTM3Ng==&mid=203929886&idx=1&sn=628f964cf0c6d84c026881b6959aea8b#rd",
    },
    {
        "title": "新品尺码指南",
        "description": "",
        "pic_url": "",
        "url": "http://mp.weixin.qq.com/s?__biz=MjM5ODUwNTM3Ng==&mid=203929886&idx=2&sn=80ce6d9abcb832237bf86c87e50fda15#rd",
    },
]


def rule(name, *, triggers, replies, mode="first", enabled=True):
    return {
        "name": name,
        "enabled": enabled,
        "priority": 0,
        "reply_mode": mode,
        "starts_at": None,
        "ends_at": None,
        "daily_from": None,
        "daily_until": None,
        "triggers": triggers,
        "replies": replies,
    }


# In creation order: follow reply, keyword rules oldest first, default reply.
EXPECTED_RULES = [
    rule(
        "关注回复",
        triggers=[{"kind": "subscribe"}],
        replies=[
            {"type": "text", "content": "感谢关注小店！回复“价格”查看价目表，回复“门店”查看地址。"}
        ],
    ),
    rule(
        "价格咨询",
        mode="random",
        triggers=[
            {"kind": "keyword", "match": "contains", "value": "价格"},
            {"kind": "keyword", "match": "contains", "value": "多少钱"},
            {"kind": "keyword", "match": "exact", "value": "price"},
        ],
        replies=[
            {
                "type": "text",
                "content": "价目表：咖啡 18 元，拿铁 22 元。\n"
                '<a href="https://shop.example.com/menu">查看完整菜单</a>',
            },
            {"type": "text", "content": "今日特价：美式咖啡 15 元！"},
        ],
    ),
    rule(
        "语音留言",
        mode="random",
        triggers=[{"kind": "keyword", "match": "exact", "value": "语音"}],
        replies=[
            {
                "type": "voice",
                "media_id": "NESsxgHEvAcg3egJTtYj4uG1PTL6iPhratdWKDLAXYErhN6oEEfMdVyblWtBY5vq",
            }
        ],
    ),
    rule(
        "门店",
        mode="random",
        triggers=[
            {"kind": "keyword", "match": "contains", "value": "门店"},
            {"kind": "keyword", "match": "contains", "value": "地址"},
        ],
        replies=[
            {
                "type": "image",
                "media_id": "m3Rk8nN3vQ2pXyZaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789AbCdEfGhIjKl",
            }
        ],
    ),
    rule(
        "活动视频",
        mode="random",
        triggers=[{"kind": "keyword", "match": "exact", "value": "视频"}],
        # The first video of the console rule is a link, not a media id: left out.
        replies=[
            {
                "type": "video",
                "media_id": "NESsxgHEvAcg3egJTtYj4uG1PTL6iPhratdWKDLAXYErhN6oEEfMdVyblWtBY5vp",
            }
        ],
    ),
    rule(
        "新品上市",
        triggers=[{"kind": "keyword", "match": "exact", "value": "新品"}],
        replies=[
            {"type": "news", "articles": NEWS_ARTICLES},
            {"type": "text", "content": "新品全场八折，活动截至月底。"},
        ],
        mode="all",  # the console's reply_all: the rest follow as customer-service messages
    ),
    rule(
        "默认回复",
        triggers=[{"kind": "default"}],
        replies=[
            {
                "type": "image",
                "media_id": "Kq1D8d3L4uB7mJxW0vX9yZ2aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789AbCd",
            }
        ],
    ),
]


@pytest.fixture(autouse=True)
def english_and_fresh_index():
    matching.forget_rule_index()
    with translation.override("en"):
        yield
    matching.forget_rule_index()


def closed_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return free.getsockname()[1]


@pytest.fixture(autouse=True)
def no_network(settings):
    # Nothing listens there: a test that should not call WeChat's API cannot reach anything.
    settings.WECHAT_API_BASE = f"http://127.0.0.1:{closed_port()}"


def run(*args, **options):
    out = StringIO()
    call_command("import_console_rules", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def write_info(tmp_path, info):
    path = tmp_path / "console.json"
    path.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return str(path)


# --- from a file --------------------------------------------------------------------------------


def test_sample_imports_exactly_the_expected_rules_triggers_and_replies():
    output = run(str(SAMPLE))

    assert "7 rules: 7 created." in output
    assert export_document()["rules"] == EXPECTED_RULES


def test_import_notes_what_cannot_be_carried_over_exactly():
    output = run(str(SAMPLE))

    assert "新品上市”: WeChat's “reply all”" not in output  # imported as reply all, no caveat
    assert "Note: “活动视频”: a video reply is a link, not a media id, and is left out" in output
    assert "Note: “门店”: the image media id from the API is temporary (3 days)" in output
    assert "Note: “默认回复”: the console sends its default reply at most once an hour" in output


def test_second_import_changes_nothing_and_repeats_no_notes():
    run(str(SAMPLE))
    ids = list(ReplyRule.objects.values_list("id", "updated_at"))

    output = run(str(SAMPLE))

    assert "7 rules: 7 unchanged." in output
    assert "Note:" not in output
    assert list(ReplyRule.objects.values_list("id", "updated_at")) == ids


def test_imported_rules_answer_like_the_console_did():
    run(str(SAMPLE))

    def reply(**fields):
        xml = build_message_xml(
            msg_type=fields.pop("msg_type", "text"),
            from_user="o",
            to_user="gh",
            create_time=1,
            **fields,
        )
        return choose_reply(parse_message(xml), now=timezone.now())

    assert reply(Content="这个多少钱？").rule_name == "价格咨询"
    assert reply(Content="新品").reply.articles[0].title == "夏季新品上市"
    assert reply(Content="新品推荐").rule_name == "默认回复"  # equal: the whole text only
    assert reply(msg_type="event", Event="subscribe").rule_name == "关注回复"


def test_switched_off_console_replies_are_imported_disabled(tmp_path):
    info = {**SAMPLE_INFO, "is_add_friend_reply_open": 0, "is_autoreply_open": 0}

    output = run(write_info(tmp_path, info))

    assert not ReplyRule.objects.filter(enabled=True).exists()
    assert ReplyRule.objects.count() == 7
    assert "“关注回复”: switched off in the console, so imported disabled." in output
    assert "message auto-reply is switched off" in output


def test_only_the_follow_switch_off_leaves_the_others_enabled(tmp_path):
    run(write_info(tmp_path, {**SAMPLE_INFO, "is_add_friend_reply_open": 0}))

    assert list(ReplyRule.objects.filter(enabled=False).values_list("name", flat=True)) == [
        "关注回复"
    ]


def test_dry_run_writes_nothing():
    output = run(str(SAMPLE), "--dry-run")

    assert "created   关注回复" in output
    assert "Dry run: nothing was written." in output
    assert not ReplyRule.objects.exists()


def test_reimport_updates_a_rule_changed_in_the_console(tmp_path):
    run(str(SAMPLE))
    info = json.loads(json.dumps(SAMPLE_INFO))
    info["add_friend_autoreply_info"]["content"] = "欢迎！"

    output = run(write_info(tmp_path, info))

    assert "updated   关注回复 (replies)" in output
    assert ReplyRule.objects.get(name="关注回复").replies.get().content == "欢迎！"


def test_same_rule_name_twice_in_the_console_gets_a_suffix():
    item = SAMPLE_INFO["keyword_autoreply_info"]["list"][-1]
    conversion = convert_console_rules(
        {
            "keyword_autoreply_info": {
                "list": [item, {**item, "create_time": item["create_time"] + 1}]
            }
        }
    )

    assert [r["name"] for r in conversion.rules] == ["价格咨询", "价格咨询 (2)"]


def test_rule_that_breaks_wechats_limits_is_refused_by_the_forms(tmp_path):
    info = {
        "keyword_autoreply_info": {
            "list": [
                {
                    "rule_name": "太长",
                    "reply_mode": "random_one",
                    "keyword_list_info": [
                        {"type": "text", "match_mode": "equal", "content": "长" * 31}
                    ],
                    "reply_list_info": [{"type": "text", "content": "x"}],
                }
            ]
        }
    }

    with pytest.raises(CommandError, match="Rule 1 “太长”, trigger 1, value: WeChat keywords"):
        run(write_info(tmp_path, info))
    assert not ReplyRule.objects.exists()


def test_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("<xml/>", encoding="utf-8")

    with pytest.raises(CommandError, match="is not JSON"):
        run(str(path))


# --- fetched from WeChat (the fake API, over HTTP) ---------------------------------------------

APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "app-secret-0123456789abcdef012345"


@pytest.fixture
def api(settings):
    """The fake WeChat API, holding the sample as the console's auto-reply rules."""
    with FakeWeChatAPI(app_id=APP_ID, app_secret=APP_SECRET) as fake:
        fake.autoreply_info = SAMPLE_INFO
        settings.WECHAT_API_BASE = fake.url
        settings.WECHAT_APP_ID = APP_ID
        settings.WECHAT_APP_SECRET = APP_SECRET
        settings.WECHAT_API_TIMEOUT = 2
        cache.clear()  # no token left from another test
        yield fake
    cache.clear()


def test_without_a_file_the_rules_are_fetched_with_a_stable_token(api):
    output = run()

    assert "Fetched the console's auto-reply rules from WeChat." in output
    token_call, rules_call = api.calls
    # stable_token, never cgi-bin/token: the token other services of the account use stays valid.
    assert (token_call["method"], token_call["path"]) == ("POST", "/cgi-bin/stable_token")
    assert token_call["body"] == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": "***",
        "force_refresh": False,
    }
    assert rules_call["path"] == "/cgi-bin/get_current_autoreply_info"
    assert rules_call["query"] == {"access_token": "***"} and rules_call["errcode"] == 0
    assert export_document()["rules"] == EXPECTED_RULES


def test_given_access_token_skips_the_token_request(api):
    body = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
    shared = httpx.post(f"{api.url}/cgi-bin/stable_token", json=body).json()["access_token"]
    api.reset()
    api.autoreply_info = SAMPLE_INFO
    api._tokens[shared] = api.clock() + 7200  # reset forgot it; the other service still has it

    run("--access-token", shared)

    assert [(call["path"], call["errcode"]) for call in api.calls] == [
        ("/cgi-bin/get_current_autoreply_info", 0)
    ]


def test_save_keeps_a_copy_of_what_wechat_returned(api, tmp_path):
    path = tmp_path / "fetched.json"

    run("--save", str(path))

    assert json.loads(path.read_text(encoding="utf-8")) == SAMPLE_INFO


def test_token_refusal_shows_errcode_errmsg_and_what_to_do(api):
    api.add_fault(
        "errcode",
        errcode=40164,
        errmsg="invalid ip 203.0.113.9, not in whitelist",
        path="/cgi-bin/stable_token",
    )

    with pytest.raises(CommandError) as raised:
        run()

    message = str(raised.value)
    assert "errcode 40164" in message
    assert "invalid ip 203.0.113.9, not in whitelist" in message
    assert "IP白名单" in message
    assert not ReplyRule.objects.exists()


def test_rules_refusal_shows_errcode_and_errmsg(api):
    # Refused again after one fresh token: then it is an error.
    api.add_fault(
        "errcode",
        errcode=40001,
        errmsg="invalid credential",
        times=2,
        path="/cgi-bin/get_current_autoreply_info",
    )

    with pytest.raises(CommandError, match="errcode 40001, errmsg 'invalid credential'"):
        run()


def test_unreachable_api_is_one_clear_line(api, settings):
    settings.WECHAT_API_BASE = f"http://127.0.0.1:{closed_port()}"

    with pytest.raises(CommandError, match="^Cannot get the auto-reply rules from WeChat's API"):
        run()


def test_a_malformed_answer_is_one_clear_line(api):
    api.add_fault("html", path="/cgi-bin/get_current_autoreply_info")

    with pytest.raises(CommandError, match="HTTP 502"):
        run()


def test_without_file_or_credentials_says_what_to_set(settings):
    settings.WECHAT_APP_ID = ""
    settings.WECHAT_APP_SECRET = ""

    with pytest.raises(CommandError, match="set WECHAT_APP_ID and WECHAT_APP_SECRET"):
        run()
