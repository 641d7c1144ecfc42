"""The admin in 简体中文, everywhere: a crawl that fails on English words staff would read.

A superuser's client (Accept-Language zh-CN) opens the index and follows every admin link it
finds, breadth first: each app page, changelist (with its filter and sort links), add page,
and the change page of one row per model (fixtures below make a row of each), and the pages
that are not models (insights, the rule tester, a conversation, the two-factor page); none may
link to the site ("查看站点": the site has no public pages). The text
an operator reads is kept: tags, scripts, styles and attribute values are dropped. A word of
three or more ASCII letters is English unless it is in ALLOWED or in the fixtures' own data.

Also here: every WeChatError code has a translated label (replies.admin.event_labels), and the
data migrations give the old English-named staff groups their Chinese names.
"""

import hashlib
import importlib
import re
from collections import deque
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.utils import translation

from accounts.models import Account
from console.groups import MENU_EDITORS
from console.models import MenuButton, MenuPublication
from replies.admin import event_labels
from replies.groups import LOG_READERS, RULE_EDITORS
from replies.models import Message, SecurityEvent, SpoolConflict
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

# Words allowed in the Chinese admin, each for a reason; everything else in ASCII letters is
# English an operator would have to read. Words in capitals (POST, DOCTYPE, LDAP, key material)
# are acronyms, protocol constants or data, and chunks with a digit, "_", "-", "/", "." … inside
# are code names, headers, paths and addresses (english_words skips both).
ALLOWED = {
    # Product and protocol names, written so in Chinese too (WeChat's own docs, the console).
    "WeChat",
    "OpenID",
    "MsgId",
    "AppID",
    "AppSecret",
    "Token",
    "EncodingAESKey",
    "Django",
    "wxsite",
    "PostgreSQL",
    "Redis",
    "gunicorn",
    "errcode",
    "errmsg",
    # Authenticator apps the two-factor page names (product names).
    "Microsoft",
    "Google",
    "Authenticator",
    "FreeOTP",
    # Keys of the keyboard, in Django's own Chinese ("按住 Control 键或 Mac 上的 Command 键").
    "Control",
    "Command",
    "Mac",
    # WeChat's XML fields and query parameters, shown as WeChat spells them (glossary).
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Event",
    "EventKey",
    "MediaId",
    "Recognition",
    "Latitude",
    "Longitude",
    "timestamp",
    "nonce",
    "success",
    # HTTP header names (axes' "HTTP Accept"); a server process, as gunicorn calls it.
    "Accept",
    "worker",
    # Message types and event names as WeChat spells them: operators see them in data.
    "text",
    "image",
    "voice",
    "video",
    "shortvideo",
    "location",
    "link",
    "event",
    "music",
    "news",
    "subscribe",
    "unsubscribe",
    "scan",
    "click",
    "view",
    "miniprogram",
    # The unanswered page's example of folding: "ＨＥＬＬＯ！", "hello" and " Hello " are one query.
    "Hello",
    "hello",
}
# The data the pages show (names, ids, bodies): data, not the admin's words. "admin" is the
# superuser's username; "authenticator" the TOTP device name staff.two_factor stores.
FIXTURE_TEXT = [
    "admin",
    "authenticator",
    "operator-zhang",
    OPENID,
    "gh_0123456789ab",
    "CONTACT",
    "button",
    "The signature does not match.",  # a security event's reason: the protocol's English, kept
]
# Whole phrases quoted in English on purpose, taken out of the text before looking for words.
PHRASES = [
    *FIXTURE_TEXT,
    "invalid button name size",  # the menu publication's example of WeChat's errmsg, verbatim
    # KNOWN, to fix where it comes from: wechat_api.client's own errmsg when no AppSecret is
    # set, shown by the menu import as "WeChat said: …" (the crawl opens the import page).
    "an AppID and an AppSecret are needed to call WeChat",
]

# Links not to follow: they change state, leave the admin or stream a file.
SKIP = re.compile(r"/logout/|/delete/|export\.csv|/password/|/r/\d+/")
# Pages reached through a query string are read, but their own links are not followed (every
# filter combination would be a page).
MAX_PAGES = 400


class _Text(HTMLParser):
    """The text nodes of a page (no script, style or attribute values) and its links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.links, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


WORD = re.compile(r"[A-Za-z]{3,}")
# A chunk with these inside is a code name, a path, an address or an example value, not prose.
TECHNICAL = re.compile(r"[-/_.:=@#*\d<>{}\[\]%&?\\]")


def english_words(text: str, allowed: set[str]) -> set[str]:
    found = set()
    for chunk in text.split():
        chunk = chunk.strip("()（），。：；、,.;:!?\"'“”‘’·|›»«…—-")
        if not chunk or TECHNICAL.search(chunk):
            continue
        for word in WORD.findall(chunk):
            if word not in allowed and not word.isupper():
                found.add(word)
    return found


@pytest.fixture
def rows(settings):
    """One row of each model, plus a staff user and a group to show; a second official account,
    so that the pages show their account column and filter."""
    Account.objects.create(name="商城服务号", slug="shop-cn")
    rule = make_rule("价格规则", keywords=["价格"], text="您好，价格请见菜单。")
    received = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    message = Message.objects.create(
        dedup_key=hashlib.sha1(b"crawl").hexdigest(),
        to_user="gh_0123456789ab",
        openid=OPENID,
        msg_type="text",
        content="价格",
        msg_id="24123456789012345",
        created_at=received,
        received_at=received,
        raw_xml="<xml><MsgType>text</MsgType></xml>",
        reply_type="text",
        reply_summary="您好",
        rule=rule,
        rule_name=rule.name,
    )
    SecurityEvent.objects.create(
        code="invalid_signature",
        status=403,
        reason="The signature does not match.",
        method="POST",
        ip="203.0.113.7",
    )
    SpoolConflict.objects.create(
        kind="dedup_key",
        file_name="3f2ac41e-9b0d5e1a2f3c.json",
        dedup_key=message.dedup_key,
        spooled_xml="<xml><MsgType>text</MsgType></xml>",
        stored_message_id=message.pk,
    )
    parent = MenuButton.objects.create(name="联系我们", position=0)
    MenuButton.objects.create(name="客服", parent=parent, type="click", key="CONTACT")
    MenuPublication.objects.create(source="admin", body='{"button":[]}', ok=True)
    user = User.objects.create_user("operator-zhang", password="a-long-password-8Kq2")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=LOG_READERS))
    return {"message": message}


def first_pk(label: str) -> int:
    """Return the id of the first row of model `label` ("app.model")."""
    return apps.get_model(label).objects.order_by("pk").values_list("pk", flat=True).first()


def crawl(client, starts):
    """Return {url: set of English words} over the pages reachable from `starts`."""
    allowed = ALLOWED | {word for text in FIXTURE_TEXT for word in WORD.findall(text)}
    queue, seen, found, errors = deque(starts), set(starts), {}, {}
    while queue and len(seen) <= MAX_PAGES:
        url = queue.popleft()
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
        if response.status_code in (301, 302):
            continue
        if response.status_code != 200 or response.get("Content-Type", "").find("html") < 0:
            errors[url] = response.status_code
            continue
        html = response.content.decode()
        # The site has no public pages: no "查看站点" (view site) link, on any page.
        if "查看站点" in html or "View site" in html or 'href="/"' in html:
            errors[url] = "a view-site link"
        page = _Text()
        page.feed(html)
        text = " ".join(page.parts)
        for phrase in sorted(PHRASES, key=len, reverse=True):
            text = text.replace(phrase, " ")
        words = english_words(text, allowed)
        if words:
            found[url] = words
        if "?" in url:
            continue
        for href in page.links:
            href = urldefrag(href)[0]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                continue
            if href.startswith("?"):
                href = urlsplit(url).path + href
            if not href.startswith("/admin/") or SKIP.search(href) or href in seen:
                continue
            seen.add(href)
            queue.append(href)
    return found, errors, seen


def test_the_admin_has_no_english_for_operators(admin_client, rows):
    translation.activate("zh-hans")
    message = rows["message"]
    starts = [
        "/admin/",
        "/admin/account/two-factor/",
        "/admin/replies/replyrule/tester/?msg_type=text&text=价格",
        f"/admin/replies/message/conversation/?openid={OPENID}",
        f"/admin/replies/message/{message.pk}/change/",
    ]
    found, errors, seen = crawl(admin_client, starts)
    assert not errors, f"pages that did not answer 200, or link to the site: {errors}"
    assert len(seen) > 40, f"the crawl reached only {sorted(seen)}"
    # What the crawl must have reached: every model's pages and the pages that are not models.
    # A change page by the row's own id: on PostgreSQL, ids go on from other tests' rows.
    must = [
        *(
            f"/admin/{label.replace('.', '/')}/{first_pk(label)}/change/"
            for label in (
                "replies.replyrule",
                "replies.message",
                "replies.securityevent",
                "replies.spoolconflict",
                "console.menupublication",
                "auth.user",
                "auth.group",
            )
        ),
        "/admin/replies/replyrule/add/",
        "/admin/auth/user/add/",
        "/admin/console/menubutton/",
        "/admin/replies/replyrule/tester/",
        "/admin/replies/message/conversation/",
        "/admin/insights/report/unanswered/",
        "/admin/insights/report/rules/",
        "/admin/insights/report/traffic/",
    ]
    missed = [url for url in must if not any(seen_url.startswith(url) for seen_url in seen)]
    assert not missed, f"the crawl did not reach {missed}"
    everywhere = {}
    for url, words in found.items():
        for word in words:
            everywhere.setdefault(word, []).append(url)
    report = "\n".join(
        f"{word}: {len(urls)} pages, e.g. {sorted(urls)[:3]}"
        for word, urls in sorted(everywhere.items())
    )
    assert not found, f"English on the admin's pages:\n{report}"


# --- security-event labels ----------------------------------------------------------------


def test_every_wechat_error_code_has_a_label():
    classes = event_labels.error_classes()
    assert len(classes) >= 24  # the protocol's and the endpoint's
    missing = [cls.__name__ for cls in classes if cls.code not in event_labels.LABELS]
    assert not missing, f"no label in replies/admin/event_labels.py for {missing}"
    stale = set(event_labels.LABELS) - {cls.code for cls in classes}
    assert not stale, f"labels for codes no error class has: {stale}"


def test_security_event_shows_the_label_and_keeps_the_reason(admin_client, rows):
    event = SecurityEvent.objects.get()
    listing = admin_client.get("/admin/replies/securityevent/").content.decode()
    assert "签名不匹配" in listing and "The signature does not match." in listing
    assert "?code=invalid_signature" in listing  # the filter offers the check by its label
    detail = admin_client.get(f"/admin/replies/securityevent/{event.pk}/change/").content.decode()
    assert "签名不匹配" in detail and "The signature does not match." in detail


def test_message_detail_title(admin_client, rows):
    message = rows["message"]
    html = admin_client.get(f"/admin/replies/message/{message.pk}/change/").content.decode()
    assert "<title>消息 · 文本 · 2026-12-01 10:00:00 |" in html
    assert "<h1>消息 · 文本 · 2026-12-01 10:00:00</h1>" in html


# --- staff groups -------------------------------------------------------------------------


def test_groups_have_chinese_names():
    names = set(Group.objects.values_list("name", flat=True))
    assert {LOG_READERS, RULE_EDITORS, MENU_EDITORS} <= names
    assert not names & {"Log readers", "Rule editors", "Menu editors"}


@pytest.mark.parametrize(
    "module",
    ["replies.migrations.0004_chinese_group_names", "console.migrations.0002_chinese_group_name"],
)
def test_the_migrations_rename_an_english_group_keeping_people_and_permissions(module):
    renames = importlib.import_module(module).RENAMES
    rename = importlib.import_module(module).rename_groups
    person = User.objects.create_user("reader")
    for old, new in renames.items():
        chinese = Group.objects.get(name=new)
        chinese.name = old  # as a deployment from before has it
        chinese.save()
        person.groups.add(chinese)
    permissions = {name: set(Group.objects.get(name=name).permissions.all()) for name in renames}
    rename(renames)(apps, None)
    for old, new in renames.items():
        group = Group.objects.get(name=new)
        assert not Group.objects.filter(name=old).exists()
        assert set(group.permissions.all()) == permissions[old]
        assert person.groups.filter(pk=group.pk).exists()
    # Both names present (post_migrate made the new one): the old one's people join the new one.
    for old in renames:
        Group.objects.create(name=old).user_set.add(User.objects.create_user(f"old-{old}"))
    rename(renames)(apps, None)
    for old, new in renames.items():
        assert not Group.objects.filter(name=old).exists()
        assert User.objects.get(username=f"old-{old}").groups.filter(name=new).exists()


def test_permissions_are_shown_in_chinese(admin_client):
    group = Group.objects.get(name=RULE_EDITORS)
    html = admin_client.get(f"/admin/auth/group/{group.pk}/change/").content.decode()
    assert "Can view" not in html and "Can add" not in html
    html = admin_client.get("/admin/auth/user/add/").content.decode()
    assert "Can " not in html
