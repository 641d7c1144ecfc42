"""The custom menu as WeChat's API takes it: one validator, and conversions from what it returns.

``check_menu(body)`` returns every way a menu/create body breaks WeChat's rules, each a
``MenuProblem`` with the errcode WeChat answers for it. It is the one copy of those rules: the
admin's menu form and ``manage.py publish_menu`` refuse a menu with it before calling WeChat, and
the fake API (``wechat_api.fake``) answers menu/create with the first problem's errcode, so what
the admin lets through is what the fake (and, as far as its documentation says, WeChat) takes.
The limits and the button types come from ``replies.protocol.vocabulary``.

``menu_from_api(answer)`` and ``menu_from_selfmenu_info(answer)`` turn what menu/get and
get_current_selfmenu_info return into a menu/create body, so a live menu can be edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from replies.protocol.vocabulary import (
    MENU_BUTTON_TYPES,
    MENU_EVENTS,
    MENU_KEY_MAX_BYTES,
    MENU_MAX_BUTTONS,
    MENU_MAX_SUB_BUTTONS,
    MENU_NAME_MAX_BYTES,
    MENU_SUB_NAME_MAX_BYTES,
    MENU_URL_MAX_BYTES,
)

__all__ = [
    "ACTION_FIELDS",
    "KEY_TYPES",
    "REQUIRED_FIELDS",
    "ImportNote",
    "ImportedMenu",
    "MenuProblem",
    "check_menu",
    "count_bytes",
    "menu_from_api",
    "menu_from_selfmenu_info",
    "menu_keys",
]

# The button types whose tap sends an event with the button's key: the menu events a "menu
# click" rule answers (vocabulary.MENU_EVENTS names exactly these).
KEY_TYPES = tuple(kind for kind in MENU_BUTTON_TYPES if kind in MENU_EVENTS)
# What each type needs besides its name; a type the vocabulary adds later needs nothing here
# until it is described, and WeChat's answer will say what is missing.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(KEY_TYPES, ("key",)),
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
# Every field a button can carry besides name, type and sub_button, in menu/create's names.
ACTION_FIELDS = ("key", "url", "appid", "pagepath", "article_id")


def count_bytes(text: str) -> int:
    """Return the length WeChat counts: UTF-8 bytes (a Chinese character is 3)."""
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class MenuProblem:
    """One way a menu breaks WeChat's rules.

    ``button`` and ``sub`` are 0-based positions (``sub`` None for a top-level button, both None
    for the menu as a whole); ``field`` is the button's field at fault; ``limit`` and ``size``
    are the numbers involved (bytes or counts). ``code`` is stable, for translated messages;
    ``errcode`` is what WeChat answers; ``message`` is English, for commands and logs.
    """

    code: str
    errcode: int
    button: int | None = None
    sub: int | None = None
    field: str | None = None
    limit: int | None = None
    size: int | None = None
    value: str = ""

    @property
    def where(self) -> str:
        """Return "button 2", "button 2.3" or "the menu", counted from 1 as people count."""
        if self.button is None:
            return "the menu"
        if self.sub is None:
            return f"button {self.button + 1}"
        return f"button {self.button + 1}.{self.sub + 1}"

    @property
    def message(self) -> str:
        text = _MESSAGES[self.code].format(
            limit=self.limit, size=self.size, value=self.value, field=self.field
        )
        return f"{self.where}: {text}"

    def __str__(self) -> str:
        return self.message


_MESSAGES = {
    "not_a_menu": 'a menu is an object with a "button" list',
    "no_buttons": "a menu has at least one button",
    "too_many_buttons": "a menu has at most {limit} buttons (this one has {size})",
    "not_a_button": "a button is an object",
    "too_many_sub_buttons": "a button has at most {limit} sub-buttons (this one has {size})",
    "nested_sub_buttons": "a sub-button cannot have sub-buttons of its own",
    "name_required": "the name is empty",
    "name_too_long": "the name is {size} bytes, at most {limit} (a Chinese character is 3 bytes)",
    "type_required": "a button without sub-buttons needs a type",
    "type_unknown": "unknown type {value!r}",
    "type_with_sub_buttons": "a button with sub-buttons has no type of its own",
    "field_required": "type {value} needs {field}",
    "field_too_long": "{field} is {size} bytes, at most {limit}",
    "url_scheme": "the URL must start with http:// or https://",
}

# errcode for a problem at the top level and in a sub-button.
_ERRCODES = {
    "not_a_menu": (40016, 40016),
    "no_buttons": (40016, 40016),
    "too_many_buttons": (40016, 40016),
    "not_a_button": (40016, 40023),
    "too_many_sub_buttons": (40023, 40023),
    "nested_sub_buttons": (40022, 40022),
    "name_required": (40018, 40025),
    "name_too_long": (40018, 40025),
    "type_required": (65308, 65308),
    "type_unknown": (40017, 40024),
    "type_with_sub_buttons": (40017, 40024),
    ("field_required", "key"): (40019, 40026),
    ("field_too_long", "key"): (40019, 40026),
    ("field_required", "url"): (40020, 40027),
    ("field_too_long", "url"): (40020, 40027),
    ("field_required", "appid"): (40166, 40166),
    ("field_required", "pagepath"): (40165, 40165),
    ("field_required", "article_id"): (40007, 40007),
    "url_scheme": (40055, 40054),
}
_FIELD_LIMITS = {"key": MENU_KEY_MAX_BYTES, "url": MENU_URL_MAX_BYTES}


def _problem(code: str, *, button=None, sub=None, field=None, **values) -> MenuProblem:
    top, nested = _ERRCODES.get((code, field)) or _ERRCODES[code]
    return MenuProblem(
        code=code, errcode=nested if sub is not None else top, button=button, sub=sub,
        field=field, **values,
    )  # fmt: skip


def check_menu(body: Any) -> list[MenuProblem]:
    """Return every way ``body`` (a menu/create body) breaks WeChat's rules; [] when it is fine.

    The rules: 1 to MENU_MAX_BUTTONS buttons, each with at most MENU_MAX_SUB_BUTTONS
    sub-buttons and no deeper; names of 1 to MENU_NAME_MAX_BYTES bytes at the top level and
    MENU_SUB_NAME_MAX_BYTES in a sub-button; a button with sub-buttons has no type, any other
    has one of MENU_BUTTON_TYPES with the fields it needs (REQUIRED_FIELDS), keys of at most
    MENU_KEY_MAX_BYTES bytes and http(s) URLs of at most MENU_URL_MAX_BYTES bytes.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("button"), list):
        return [_problem("not_a_menu")]
    buttons = body["button"]
    if not buttons:
        return [_problem("no_buttons")]
    problems = []
    if len(buttons) > MENU_MAX_BUTTONS:
        problems.append(_problem("too_many_buttons", limit=MENU_MAX_BUTTONS, size=len(buttons)))
    for number, button in enumerate(buttons):
        problems += _check_button(button, button_number=number)
    return problems


def _check_button(button: Any, *, button_number: int, sub: int | None = None) -> list:
    where = {"button": button_number, "sub": sub}
    if not isinstance(button, Mapping):
        return [_problem("not_a_button", **where)]
    problems = []
    name = button.get("name")
    limit = MENU_NAME_MAX_BYTES if sub is None else MENU_SUB_NAME_MAX_BYTES
    if not isinstance(name, str) or not name.strip():
        problems.append(_problem("name_required", field="name", **where))
    elif count_bytes(name) > limit:
        problems.append(
            _problem("name_too_long", field="name", limit=limit, size=count_bytes(name), **where)
        )
    sub_buttons = button.get("sub_button") or []
    kind = button.get("type")
    if sub_buttons:
        if sub is not None:
            return [*problems, _problem("nested_sub_buttons", **where)]
        if not isinstance(sub_buttons, list):
            return [*problems, _problem("not_a_button", **where)]
        if kind:
            problems.append(_problem("type_with_sub_buttons", field="type", **where))
        if len(sub_buttons) > MENU_MAX_SUB_BUTTONS:
            problems.append(
                _problem(
                    "too_many_sub_buttons",
                    limit=MENU_MAX_SUB_BUTTONS,
                    size=len(sub_buttons),
                    **where,
                )
            )
        for number, sub_button in enumerate(sub_buttons):
            problems += _check_button(sub_button, button_number=button_number, sub=number)
        return problems
    if not kind:
        return [*problems, _problem("type_required", field="type", **where)]
    if kind not in MENU_BUTTON_TYPES:
        return [*problems, _problem("type_unknown", field="type", value=str(kind), **where)]
    for name in REQUIRED_FIELDS.get(kind, ()):
        value = button.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(_problem("field_required", field=name, value=kind, **where))
            continue
        if name in _FIELD_LIMITS and count_bytes(value) > _FIELD_LIMITS[name]:
            problems.append(
                _problem(
                    "field_too_long",
                    field=name,
                    limit=_FIELD_LIMITS[name],
                    size=count_bytes(value),
                    **where,
                )
            )
        elif name == "url" and not value.lower().startswith(("http://", "https://")):
            problems.append(_problem("url_scheme", field="url", **where))
    return problems


def menu_keys(body: Mapping[str, Any]) -> dict[str, str]:
    """Return {key: button name} for every button of ``body`` whose tap sends its key."""
    keys = {}
    for button in body.get("button") or ():
        for item in [button, *(button.get("sub_button") or ())]:
            if item.get("type") in KEY_TYPES and item.get("key"):
                keys.setdefault(item["key"], item.get("name", ""))
    return keys


# --- what WeChat returns, as a menu/create body -------------------------------------------------


@dataclass(frozen=True)
class ImportNote:
    """A button of a live menu that could not be carried over as it was.

    ``code`` is "console_type" (a reply only the console can give: text, image, voice, video,
    news; imported as a click button with ``key``, for a rule to answer) or "unknown_type"
    (left out). ``kind`` is the button's type in WeChat's answer.
    """

    code: str
    name: str
    kind: str
    key: str = ""


@dataclass
class ImportedMenu:
    """A live menu as a menu/create body, and the buttons that could not be kept as they were."""

    body: dict[str, Any]
    notes: list[ImportNote] = field(default_factory=list)


def _button(item: Mapping[str, Any], *, key_for_console: str, notes: list) -> dict | None:
    name = str(item.get("name") or "")
    kind = str(item.get("type") or "")
    if kind in MENU_BUTTON_TYPES:
        button = {"type": kind, "name": name}
        for field_name in ACTION_FIELDS:
            value = item.get(field_name)
            if value:
                button[field_name] = str(value)
        if kind in ("article_id", "article_view_limited") and "article_id" not in button:
            if item.get("value"):
                button["article_id"] = str(item["value"])
        return button
    if kind in ("text", "img", "photo", "voice", "video", "news", "media_id", "view_limited"):
        notes.append(ImportNote("console_type", name=name, kind=kind, key=key_for_console))
        return {"type": "click", "name": name, "key": key_for_console}
    notes.append(ImportNote("unknown_type", name=name, kind=kind))
    return None


def _convert(buttons: list, *, sub_list) -> ImportedMenu:
    notes: list[ImportNote] = []
    result = []
    for number, item in enumerate(buttons, start=1):
        if not isinstance(item, Mapping):
            continue
        subs = [sub for sub in sub_list(item) if isinstance(sub, Mapping)]
        if subs:
            converted = [
                _button(sub, key_for_console=f"MENU_{number}_{index}", notes=notes)
                for index, sub in enumerate(subs, start=1)
            ]
            sub_buttons = [button for button in converted if button]
            result.append({"name": str(item.get("name") or ""), "sub_button": sub_buttons})
        else:
            button = _button(item, key_for_console=f"MENU_{number}", notes=notes)
            if button:
                result.append(button)
    return ImportedMenu(body={"button": result}, notes=notes)


def menu_from_api(answer: Mapping[str, Any]) -> ImportedMenu:
    """Return the default menu of a menu/get answer ({"menu": {"button": [...]}}) as a body."""
    menu = answer.get("menu") if isinstance(answer, Mapping) else None
    buttons = menu.get("button") if isinstance(menu, Mapping) else None
    return _convert(
        buttons if isinstance(buttons, list) else [],
        sub_list=lambda item: item.get("sub_button") or [],
    )


def menu_from_selfmenu_info(answer: Mapping[str, Any]) -> ImportedMenu:
    """Return the menu of a get_current_selfmenu_info answer as a body (empty when it is off).

    That API also sees a menu set in the console, whose buttons may be replies only the console
    gives (text, img, voice, video, news): those become click buttons, noted for a rule.
    """
    info = answer.get("selfmenu_info") if isinstance(answer, Mapping) else None
    if not isinstance(info, Mapping) or not answer.get("is_menu_open", 1):
        return ImportedMenu(body={"button": []})
    buttons = info.get("button")

    def sub_list(item):
        subs = item.get("sub_button")
        if isinstance(subs, Mapping):  # {"list": [...]} in this API
            subs = subs.get("list")
        return subs if isinstance(subs, list) else []

    return _convert(buttons if isinstance(buttons, list) else [], sub_list=sub_list)
