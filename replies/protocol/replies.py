"""Describe passive replies as frozen dataclasses and render them to WeChat's reply XML.

A reply is one of the ``Reply`` dataclasses; ``render_reply`` builds it as an lxml tree, never
with string formatting. Strings go in CDATA sections the way WeChat writes them, numbers
(CreateTime, ArticleCount) as plain text. A string containing ``]]>``, which cannot stand in a
CDATA section, is written as escaped text instead; any XML parser reads both back the same.
Characters XML 1.0 forbids (NUL and the other C0 controls except tab, newline and carriage
return, lone surrogates, U+FFFE, U+FFFF) cannot be sent at all and are dropped, and ``\\r\\n``
and a lone ``\\r`` become ``\\n``, which is what a parser would make of them anyway.
``reply_to_dict`` and ``reply_from_dict`` convert replies to and from JSON-friendly dicts for
storage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lxml import etree

from .vocabulary import (
    MAX_NEWS_ARTICLES,
    MAX_TEXT_REPLY_BYTES,
    NOT_XML_CHAR,
    SINGLE_ARTICLE_TYPES,
)

__all__ = [
    "Article",
    "ImageReply",
    "MusicReply",
    "NewsReply",
    "Reply",
    "TextReply",
    "TransferCustomerServiceReply",
    "VideoReply",
    "VoiceReply",
    "ARTICLE_FIELDS",
    "ReplyProblem",
    "check_article",
    "check_reply",
    "REPLY_TYPES",
    "max_news_articles",
    "reply_field_names",
    "render_encrypted_reply",
    "render_reply",
    "reply_from_dict",
    "reply_to_dict",
    "summarize_reply",
]

SUMMARY_LENGTH = 60


@dataclass(frozen=True)
class TextReply:
    msg_type: ClassVar[str] = "text"
    content: str


@dataclass(frozen=True)
class ImageReply:
    msg_type: ClassVar[str] = "image"
    media_id: str


@dataclass(frozen=True)
class VoiceReply:
    msg_type: ClassVar[str] = "voice"
    media_id: str


@dataclass(frozen=True)
class VideoReply:
    msg_type: ClassVar[str] = "video"
    media_id: str
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class MusicReply:
    msg_type: ClassVar[str] = "music"
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""
    thumb_media_id: str = ""


@dataclass(frozen=True)
class Article:
    title: str
    description: str = ""
    pic_url: str = ""
    url: str = ""


@dataclass(frozen=True)
class NewsReply:
    msg_type: ClassVar[str] = "news"
    articles: tuple[Article, ...]

    def __post_init__(self) -> None:
        # Accept a list for convenience but store a tuple, so the reply stays hashable.
        if not isinstance(self.articles, tuple):
            object.__setattr__(self, "articles", tuple(self.articles))


@dataclass(frozen=True)
class TransferCustomerServiceReply:
    msg_type: ClassVar[str] = "transfer_customer_service"
    kf_account: str = ""


Reply = (
    TextReply
    | ImageReply
    | VoiceReply
    | VideoReply
    | MusicReply
    | NewsReply
    | TransferCustomerServiceReply
)

_REPLY_CLASSES: dict[str, type[Any]] = {
    cls.msg_type: cls
    for cls in (
        TextReply,
        ImageReply,
        VoiceReply,
        VideoReply,
        MusicReply,
        NewsReply,
        TransferCustomerServiceReply,
    )
}


ARTICLE_FIELDS = tuple(spec.name for spec in dataclasses.fields(Article))
_HTTP = ("http://", "https://")


@dataclass(frozen=True)
class ReplyProblem:
    """One reason WeChat would refuse or mangle a reply: which field, a stable code, the facts.

    ``message`` is plain English for logs and commands; the admin words it from ``code`` and
    ``params`` in the operator's language.
    """

    field: str
    code: str
    message: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.params)


def check_article(article: Article, *, number: int) -> list[ReplyProblem]:
    """Return what is wrong with news article ``number`` (1-based): WeChat needs a title and an
    http(s) link, and shows no picture from another scheme."""
    problems = []
    if not article.title.strip() or not article.url.strip():
        problems.append(
            ReplyProblem(
                "articles",
                "article",
                f"Article {number} needs at least a title and a URL.",
                (("n", number),),
            )
        )
    for link in (article.url, article.pic_url):
        if link and not link.startswith(_HTTP):
            problems.append(
                ReplyProblem(
                    "articles",
                    "article_url",
                    f"Article {number}: {link!r} is not an http(s) URL.",
                    (("n", number), ("link", link)),
                )
            )
    return problems


def _required(field_name: str) -> ReplyProblem:
    return ReplyProblem(field_name, "required", f"A reply of this type needs {field_name}.")


def check_reply(reply: Reply) -> list[ReplyProblem]:
    """Return every way ``reply`` breaks WeChat's rules; an empty list means it can be sent.

    The one validator of a reply: the admin form, the JSON import and the console import all
    call it, so a reply one of them accepts the others accept too.
    """
    problems: list[ReplyProblem] = []
    if isinstance(reply, TextReply):
        size = len(reply.content.encode("utf-8"))
        if not reply.content.strip():
            problems.append(_required("content"))
        elif size > MAX_TEXT_REPLY_BYTES:
            problems.append(
                ReplyProblem(
                    "content",
                    "too_long",
                    f"WeChat allows {MAX_TEXT_REPLY_BYTES} bytes of text (this is {size}).",
                    (("max", MAX_TEXT_REPLY_BYTES), ("n", size)),
                )
            )
    elif isinstance(reply, (ImageReply, VoiceReply, VideoReply)):
        if not reply.media_id.strip():
            problems.append(_required("media_id"))
    elif isinstance(reply, MusicReply):
        if not reply.thumb_media_id.strip():
            problems.append(_required("thumb_media_id"))
        if not (reply.music_url or reply.hq_music_url):
            problems.append(_required("music_url"))
        for name in ("music_url", "hq_music_url"):
            link = getattr(reply, name)
            if link and not link.startswith(_HTTP):
                problems.append(
                    ReplyProblem(name, "url", f"{link!r} is not an http(s) URL.", (("link", link),))
                )
    elif isinstance(reply, NewsReply):
        count = len(reply.articles)
        if not count:
            problems.append(_required("articles"))
        elif count > MAX_NEWS_ARTICLES:
            problems.append(
                ReplyProblem(
                    "articles",
                    "too_many",
                    f"WeChat sends at most {MAX_NEWS_ARTICLES} articles (this has {count}).",
                    (("max", MAX_NEWS_ARTICLES), ("n", count)),
                )
            )
        for number, article in enumerate(reply.articles, start=1):
            problems.extend(check_article(article, number=number))
    elif not isinstance(reply, TransferCustomerServiceReply):
        raise TypeError(f"{type(reply).__name__} is not a WeChat reply.")
    return problems


def reply_field_names(msg_type: str) -> tuple[str, ...]:
    """Return the fields a reply of `msg_type` carries, e.g. ("media_id",) for an image."""
    cls = _REPLY_CLASSES.get(msg_type)
    return tuple(spec.name for spec in dataclasses.fields(cls)) if cls else ()


REPLY_TYPES = tuple(_REPLY_CLASSES)


def max_news_articles(in_reply_to: str) -> int:
    """Return how many articles WeChat shows in a news reply to a ``in_reply_to`` message."""
    return 1 if in_reply_to.lower() in SINGLE_ARTICLE_TYPES else MAX_NEWS_ARTICLES


def _xml_safe(value: str) -> str:
    value = NOT_XML_CHAR.sub("", value)
    if "\r" in value:
        # Any XML parser reads CDATA line ends as "\n"; do it here so CDATA and the escaped
        # fallback below give the same result.
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _add_string(parent: etree._Element, tag: str, value: str) -> None:
    element = etree.SubElement(parent, tag)
    value = _xml_safe(value)
    if "]]>" in value:
        # etree.CDATA refuses "]]>". Escaped text is read back identically by every XML parser,
        # WeChat's included; lxml's xmlfile could write adjacent CDATA sections instead, but it
        # crashes the interpreter on CDATA ending in "]" (lxml 6.1).
        element.text = value
    else:
        element.text = etree.CDATA(value)


def _add_number(parent: etree._Element, tag: str, value: int) -> None:
    etree.SubElement(parent, tag).text = str(int(value))


def _add_text(root: etree._Element, reply: TextReply, in_reply_to: str) -> None:
    _add_string(root, "Content", reply.content)


def _add_image(root: etree._Element, reply: ImageReply, in_reply_to: str) -> None:
    _add_string(etree.SubElement(root, "Image"), "MediaId", reply.media_id)


def _add_voice(root: etree._Element, reply: VoiceReply, in_reply_to: str) -> None:
    _add_string(etree.SubElement(root, "Voice"), "MediaId", reply.media_id)


def _add_video(root: etree._Element, reply: VideoReply, in_reply_to: str) -> None:
    video = etree.SubElement(root, "Video")
    _add_string(video, "MediaId", reply.media_id)
    _add_string(video, "Title", reply.title)
    _add_string(video, "Description", reply.description)


def _add_music(root: etree._Element, reply: MusicReply, in_reply_to: str) -> None:
    music = etree.SubElement(root, "Music")
    _add_string(music, "Title", reply.title)
    _add_string(music, "Description", reply.description)
    _add_string(music, "MusicUrl", reply.music_url)
    _add_string(music, "HQMusicUrl", reply.hq_music_url)
    _add_string(music, "ThumbMediaId", reply.thumb_media_id)


def _add_news(root: etree._Element, reply: NewsReply, in_reply_to: str) -> None:
    articles = reply.articles[: max_news_articles(in_reply_to)]
    _add_number(root, "ArticleCount", len(articles))
    container = etree.SubElement(root, "Articles")
    for article in articles:
        item = etree.SubElement(container, "item")
        _add_string(item, "Title", article.title)
        _add_string(item, "Description", article.description)
        _add_string(item, "PicUrl", article.pic_url)
        _add_string(item, "Url", article.url)


def _add_transfer(
    root: etree._Element, reply: TransferCustomerServiceReply, in_reply_to: str
) -> None:
    if reply.kf_account:
        _add_string(etree.SubElement(root, "TransInfo"), "KfAccount", reply.kf_account)


_BUILDERS: dict[type[Any], Any] = {
    TextReply: _add_text,
    ImageReply: _add_image,
    VoiceReply: _add_voice,
    VideoReply: _add_video,
    MusicReply: _add_music,
    NewsReply: _add_news,
    TransferCustomerServiceReply: _add_transfer,
}


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="utf-8", xml_declaration=False)


def render_reply(
    reply: Reply, *, to_user: str, from_user: str, create_time: int, in_reply_to: str = ""
) -> bytes:
    """Return the UTF-8 XML (no declaration) of ``reply``.

    Pass ``to_user``/``from_user`` already swapped: the follower's OpenID and our account.
    ``in_reply_to`` is the MsgType being answered; it limits a news reply to one article when
    WeChat would show only one (all eight are kept when it is empty).
    """
    builder = _BUILDERS.get(type(reply))
    if builder is None:
        raise TypeError(f"Cannot render {type(reply).__name__} as a WeChat reply.")
    if isinstance(reply, NewsReply) and not reply.articles:
        raise ValueError("A news reply needs at least one article.")
    root = etree.Element("xml")
    _add_string(root, "ToUserName", to_user)
    _add_string(root, "FromUserName", from_user)
    _add_number(root, "CreateTime", create_time)
    _add_string(root, "MsgType", reply.msg_type)
    builder(root, reply, in_reply_to)
    return _serialize(root)


def render_encrypted_reply(
    *, encrypt: str, msg_signature: str, timestamp: str, nonce: str
) -> bytes:
    """Return the XML envelope of an encrypted reply (safe and compatible mode)."""
    root = etree.Element("xml")
    _add_string(root, "Encrypt", encrypt)
    _add_string(root, "MsgSignature", msg_signature)
    etree.SubElement(root, "TimeStamp").text = _xml_safe(str(timestamp))
    _add_string(root, "Nonce", nonce)
    return _serialize(root)


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    """Return ``reply`` as a JSON-friendly dict: ``{"type": "text", "content": "…"}``."""
    if type(reply) not in _BUILDERS:
        raise TypeError(f"{type(reply).__name__} is not a WeChat reply.")
    data: dict[str, Any] = {"type": reply.msg_type}
    for spec in dataclasses.fields(reply):
        value = getattr(reply, spec.name)
        if spec.name == "articles":
            value = [dataclasses.asdict(article) for article in value]
        data[spec.name] = value
    return data


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a mapping.")
    specs = {spec.name: spec for spec in dataclasses.fields(cls)}
    unexpected = sorted(str(name) for name in data if name not in specs)
    if unexpected:
        raise ValueError(f"{where} has unexpected field(s): {', '.join(unexpected)}.")
    missing = [
        name
        for name, spec in specs.items()
        if name not in data and spec.default is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"{where} is missing the field(s): {', '.join(missing)}.")
    values: dict[str, Any] = {}
    for name in specs:
        if name not in data:
            continue
        value = data[name]
        if name == "articles":
            # How many articles WeChat takes is check_reply's to say; this is only the shape.
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{where} needs a list of articles.")
            value = tuple(
                _build(Article, item, f"Article {number}")
                for number, item in enumerate(value, start=1)
            )
        elif not isinstance(value, str):
            raise ValueError(f"{where}: {name} must be a string.")
        values[name] = value
    return cls(**values)


def reply_from_dict(data: Mapping[str, Any]) -> Reply:
    """Return the reply described by ``data``, the inverse of ``reply_to_dict``.

    Raise ``ValueError`` with a message naming the problem on an unknown type, a missing or
    unexpected field, or a value that is not a string. Whether WeChat would accept the reply
    (lengths, counts, required values) is ``check_reply``'s job.
    """
    if not isinstance(data, Mapping):
        raise ValueError("A reply must be a mapping with a 'type' key.")
    kind = data.get("type")
    cls = _REPLY_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(_REPLY_CLASSES))
        raise ValueError(f"Unknown reply type {kind!r}; expected one of: {known}.")
    fields = {name: value for name, value in data.items() if name != "type"}
    return _build(cls, fields, f"A {kind} reply")


def summarize_reply(reply: Reply) -> str:
    """Return one short line describing ``reply`` for logs and the admin."""
    if isinstance(reply, TextReply):
        detail = reply.content
    elif isinstance(reply, (ImageReply, VoiceReply)):
        detail = reply.media_id
    elif isinstance(reply, VideoReply):
        detail = reply.title or reply.media_id
    elif isinstance(reply, MusicReply):
        detail = reply.title or reply.music_url
    elif isinstance(reply, NewsReply):
        first = reply.articles[0].title if reply.articles else ""
        detail = f"({len(reply.articles)}) {first}"
    elif isinstance(reply, TransferCustomerServiceReply):
        detail = reply.kf_account
    else:
        raise TypeError(f"{type(reply).__name__} is not a WeChat reply.")
    line = f"{reply.msg_type}: {detail}" if detail else reply.msg_type
    # One line: newlines, tabs and runs of spaces become single spaces.
    line = " ".join(_xml_safe(line).split())
    if len(line) > SUMMARY_LENGTH:
        line = line[: SUMMARY_LENGTH - 1] + "…"
    return line
