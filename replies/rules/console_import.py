"""Turn the WeChat console's own auto-reply rules into wxsite rules.

Operators who enable a server URL lose the console's auto-reply (自动回复): WeChat stops using
it. Its rules can still be read as JSON from the API `get_current_autoreply_info`; this module
fetches that JSON (through wechat_api, the project's one WeChat API client) and converts it into
a wxsite rules document that replies.rules.transfer imports like any other, so the same
validation, idempotence and all-or-nothing writing apply. What cannot be carried over exactly —
"reply all", temporary media ids, video links — is reported as a note rather than silently
changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from replies.protocol import Article, ImageReply, VideoReply, VoiceReply, check_article
from replies.protocol.vocabulary import MAX_NEWS_ARTICLES
from replies.rules.index import SUBSCRIBE
from replies.rules.transfer import FORMAT, VERSION
from wechat_api import (
    WeChatAPIBadAnswer,
    WeChatAPIError,
    WeChatAPIUnavailable,
    WeChatClient,
)

__all__ = [
    "DEFAULT_RULE_NAME",
    "FOLLOW_RULE_NAME",
    "Conversion",
    "ConsoleImportError",
    "Note",
    "convert_console_rules",
    "fetch_autoreply_info",
]

FOLLOW_RULE_NAME = "关注回复"
DEFAULT_RULE_NAME = "默认回复"
KEYWORD_RULE_NAME = "关键词回复 {number}"
MAX_NAME_LENGTH = 60  # ReplyRule.name

MATCH_MODES = {"equal": "exact", "contain": "contains"}
REPLY_MODES = {"random_one": "random", "reply_all": "all"}
# The console's reply types (it says "img") and the reply types they become.
MEDIA_TYPES = {
    "img": ImageReply.msg_type,
    "image": ImageReply.msg_type,
    "voice": VoiceReply.msg_type,
    "video": VideoReply.msg_type,
}


class ConsoleImportError(Exception):
    """Signal that the console's rules could not be fetched or read; the message says why."""


@dataclass(frozen=True)
class Note:
    """Something about one rule (or, with no rule, the whole import) that could not be kept."""

    rule: str
    text: str

    def __str__(self) -> str:
        return f"“{self.rule}”: {self.text}" if self.rule else self.text


@dataclass
class Conversion:
    """The rules document made from the console's rules, and what could not be kept as is."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "rules": self.rules}


# --- fetching ---------------------------------------------------------------------------------


def fetch_autoreply_info(client: WeChatClient) -> dict[str, Any]:
    """Return the JSON of get_current_autoreply_info, asked through ``client`` (wechat_api).

    The client gets its access token from stable_token, shared with every other service of the
    account. Raise ConsoleImportError with WeChat's errcode and errmsg and what to do about it
    (the client's Chinese explanation) when WeChat refuses or cannot be reached.
    """
    what = "the auto-reply rules"
    try:
        return client.get_current_autoreply_info()
    except (WeChatAPIUnavailable, WeChatAPIBadAnswer) as error:
        raise ConsoleImportError(
            f"Cannot get {what} from WeChat's API: {error.errmsg} — {error.explanation}"
        ) from None
    except WeChatAPIError as error:
        raise ConsoleImportError(
            f"WeChat refused the request for {what}: errcode {error.errcode}, "
            f"errmsg {error.errmsg!r} — {error.explanation}"
        ) from None


# --- converting -------------------------------------------------------------------------------


def convert_console_rules(info: Mapping[str, Any]) -> Conversion:
    """Return the wxsite rules for the console's follow, keyword and default replies.

    Keyword rules keep their names, keywords (equal → exact, contain → contains) and reply
    mode (random_one → random; reply_all → all: the first passively, the rest through the
    outbox as customer-service messages). The
    follow reply becomes the rule "关注回复", the default reply "默认回复". A switch turned off in
    the console (is_add_friend_reply_open, is_autoreply_open) imports its rules disabled.
    """
    if not isinstance(info, Mapping):
        raise ConsoleImportError("The console's auto-reply JSON must be an object.")
    conversion = Conversion()
    follow_open = _switch(info, "is_add_friend_reply_open")
    messages_open = _switch(info, "is_autoreply_open")
    follow = info.get("add_friend_autoreply_info")
    if isinstance(follow, Mapping) and follow.get("type"):
        _add_single(conversion, follow, name=FOLLOW_RULE_NAME, kind=SUBSCRIBE, enabled=follow_open)
    for number, item in enumerate(_keyword_rules(info), start=1):
        _add_keyword_rule(conversion, item, number=number, enabled=messages_open)
    default = info.get("message_default_autoreply_info")
    if isinstance(default, Mapping) and default.get("type"):
        if _add_single(
            conversion, default, name=DEFAULT_RULE_NAME, kind="default", enabled=messages_open
        ):
            conversion.notes.append(
                Note(
                    DEFAULT_RULE_NAME,
                    "the console sends its default reply at most once an hour to each "
                    "follower; wxsite answers every message no other rule matches.",
                )
            )
    if not follow_open and any(rule["name"] == FOLLOW_RULE_NAME for rule in conversion.rules):
        conversion.notes.append(
            Note(FOLLOW_RULE_NAME, "switched off in the console, so imported disabled.")
        )
    if not messages_open and any(
        rule["triggers"][0]["kind"] != SUBSCRIBE for rule in conversion.rules
    ):
        conversion.notes.append(
            Note(
                "",
                "The console's message auto-reply is switched off: keyword and default rules "
                "are imported disabled.",
            )
        )
    _make_names_unique(conversion)
    return conversion


def _switch(info: Mapping[str, Any], name: str) -> bool:
    # Absent means the rules are there to be used; 0 (or "0", false) means switched off.
    return str(info.get(name, 1)).strip().lower() not in ("0", "false", "")


def _keyword_rules(info: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    section = info.get("keyword_autoreply_info")
    items = section.get("list") if isinstance(section, Mapping) else None
    if not isinstance(items, list):
        return []
    rules = [item for item in items if isinstance(item, Mapping)]
    # The API lists the newest first. Oldest first here: creation order breaks ties between
    # equal rules in wxsite, so the older console rule stays the one that wins.
    return sorted(rules, key=lambda item: _int(item.get("create_time")))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _add_single(
    conversion: Conversion, info: Mapping[str, Any], *, name: str, kind: str, enabled: bool
) -> bool:
    reply = _reply(info, rule=name, notes=conversion.notes)
    if reply is None:
        conversion.notes.append(Note(name, "not imported: its reply cannot be carried over."))
        return False
    conversion.rules.append(
        _rule(name=name, enabled=enabled, mode="first", triggers=[{"kind": kind}], replies=[reply])
    )
    return True


def _add_keyword_rule(
    conversion: Conversion, item: Mapping[str, Any], *, number: int, enabled: bool
) -> None:
    name = str(item.get("rule_name") or "").strip() or KEYWORD_RULE_NAME.format(number=number)
    if len(name) > MAX_NAME_LENGTH:
        conversion.notes.append(Note(name, f"the name is cut to {MAX_NAME_LENGTH} characters."))
        name = name[:MAX_NAME_LENGTH]
    notes = conversion.notes
    triggers = [
        trigger
        for keyword in _list(item.get("keyword_list_info"))
        if (trigger := _keyword(keyword, rule=name, notes=notes)) is not None
    ]
    replies = [
        reply
        for info in _list(item.get("reply_list_info"))
        if (reply := _reply(info, rule=name, notes=notes)) is not None
    ]
    if not triggers or not replies:
        missing = "keywords" if not triggers else "replies"
        notes.append(Note(name, f"not imported: it has no {missing} wxsite can use."))
        return
    console_mode = str(item.get("reply_mode") or "random_one")
    mode = REPLY_MODES.get(console_mode, "random")
    conversion.rules.append(
        _rule(name=name, enabled=enabled, mode=mode, triggers=triggers, replies=replies)
    )


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _rule(
    *, name: str, enabled: bool, mode: str, triggers: list[dict], replies: list[dict]
) -> dict[str, Any]:
    return {
        "name": name,
        "enabled": enabled,
        "priority": 0,
        "reply_mode": mode,
        "triggers": triggers,
        "replies": replies,
    }


def _keyword(info: Mapping[str, Any], *, rule: str, notes: list[Note]) -> dict[str, str] | None:
    value = str(info.get("content") or "").strip()
    match_mode = str(info.get("match_mode") or "")
    if not value:
        return None
    if match_mode not in MATCH_MODES:
        notes.append(Note(rule, f"keyword “{value}” has an unknown match mode {match_mode!r}."))
        return None
    return {"kind": "keyword", "match": MATCH_MODES[match_mode], "value": value}


def _reply(info: Mapping[str, Any], *, rule: str, notes: list[Note]) -> dict[str, Any] | None:
    kind = str(info.get("type") or "")
    content = str(info.get("content") or "")
    if kind == "text":
        return {"type": "text", "content": content}
    if kind == "news":
        return _news_reply(info, rule=rule, notes=notes)
    if kind not in MEDIA_TYPES:
        notes.append(Note(rule, f"a reply of type {kind!r} is left out (unknown to wxsite)."))
        return None
    if kind == "video" and content.startswith(("http://", "https://")):
        notes.append(
            Note(
                rule,
                "a video reply is a link, not a media id, and is left out; upload the video as "
                "permanent material and add it in the admin.",
            )
        )
        return None
    notes.append(
        Note(
            rule,
            f"the {MEDIA_TYPES[kind]} media id from the API is temporary (3 days); upload the "
            "file as permanent material (永久素材) and put its media id in the rule.",
        )
    )
    return {"type": MEDIA_TYPES[kind], "media_id": content}


def _news_reply(info: Mapping[str, Any], *, rule: str, notes: list[Note]) -> dict[str, Any] | None:
    news = info.get("news_info")
    items = _list(news.get("list")) if isinstance(news, Mapping) else []
    articles = []
    for item in items:
        article = Article(
            title=str(item.get("title") or ""),
            description=str(item.get("digest") or ""),
            pic_url=str(item.get("cover_url") or ""),
            url=str(item.get("content_url") or item.get("source_url") or ""),
        )
        # The same check as the admin's and the JSON import's: an article WeChat would refuse
        # is left out with the reason, and the rest of the reply is kept.
        problems = check_article(article, number=len(articles) + 1)
        if problems:
            notes.append(Note(rule, f"an article is left out: {problems[0].message}"))
            continue
        articles.append(dataclasses.asdict(article))
    if len(articles) > MAX_NEWS_ARTICLES:
        notes.append(
            Note(rule, f"only the first {MAX_NEWS_ARTICLES} articles are kept (WeChat's limit).")
        )
        articles = articles[:MAX_NEWS_ARTICLES]
    if not articles:
        notes.append(Note(rule, "a news reply without articles is left out."))
        return None
    return {"type": "news", "articles": articles}


def _make_names_unique(conversion: Conversion) -> None:
    # The console allows two rules with one name; in wxsite the name identifies the rule.
    seen: set[str] = set()
    for rule in conversion.rules:
        name, number = rule["name"], 2
        while rule["name"] in seen:
            suffix = f" ({number})"
            rule["name"] = name[: MAX_NAME_LENGTH - len(suffix)] + suffix
            number += 1
        if rule["name"] != name:
            conversion.notes.append(
                Note(rule["name"], f"the console has two rules named “{name}”; this is the second.")
            )
        seen.add(rule["name"])
