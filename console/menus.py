"""The custom menu's operations: the draft as a menu/create body, publish, import, warnings.

The admin, the commands and the tests all go through these functions. A body is menu/create's
JSON as a dict (``{"button": [...]}``); its rules are ``wechat_api.menu.check_menu``'s. Every
official account has its own draft and history, and publishes and imports with its own AppID and
AppSecret (wechat_api.from_django.client_for_account): each function takes the account, the
environment account's when none is given (as the models' default).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.environment import environment_account
from accounts.models import Account
from console.models import MenuButton, MenuPublication
from replies.rules.index import CLICK
from replies.rules.ruleset import load_rule_specs
from wechat_api.errors import MenuNotFound, WeChatAPIError
from wechat_api.from_django import client_for_account
from wechat_api.menu import (
    ACTION_FIELDS,
    REQUIRED_FIELDS,
    ImportedMenu,
    MenuProblem,
    check_menu,
    menu_from_api,
    menu_from_selfmenu_info,
    menu_keys,
)

logger = logging.getLogger("console.menu")

__all__ = [
    "MenuRefused",
    "KeyWarnings",
    "draft_body",
    "fetch_live_menu",
    "key_warnings",
    "menu_json",
    "publish_menu",
    "save_draft",
]


class MenuRefused(Exception):
    """Signal that a menu breaks WeChat's rules; nothing was sent."""

    def __init__(self, problems: list[MenuProblem]):
        self.problems = problems
        super().__init__("; ".join(problem.message for problem in problems))


def _account(account: Account | None) -> Account:
    return account if account is not None else environment_account()


def menu_json(body: dict[str, Any]) -> str:
    """Return ``body`` as the client sends it: compact UTF-8 JSON, characters unescaped."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def button_body(button: MenuButton | dict[str, Any]) -> dict[str, Any]:
    """Return one leaf button as menu/create wants it: name, type and the fields it needs."""
    get = button.get if isinstance(button, dict) else lambda name: getattr(button, name)
    body = {"type": get("type"), "name": get("name")}
    fields = REQUIRED_FIELDS.get(get("type"), ACTION_FIELDS)
    body.update({name: get(name) for name in fields if get(name)})
    return body


def draft_body(account: Account | None = None) -> dict[str, Any]:
    """Return ``account``'s draft (its MenuButton rows) as a menu/create body."""
    account = _account(account)
    rows = list(MenuButton.objects.filter(account=account).order_by("position", "id"))
    children: dict[int, list[MenuButton]] = {}
    for row in rows:
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(row)
    buttons = []
    for row in rows:
        if row.parent_id is not None:
            continue
        subs = children.get(row.pk, [])
        if subs:
            buttons.append({"name": row.name, "sub_button": [button_body(sub) for sub in subs]})
        else:
            buttons.append(button_body(row))
    return {"button": buttons}


@transaction.atomic
def save_draft(body: dict[str, Any], *, account: Account | None = None) -> None:
    """Replace ``account``'s draft with ``body`` (a menu/create body; not checked here)."""
    account = _account(account)
    MenuButton.objects.filter(account=account).delete()
    for position, button in enumerate(body.get("button") or []):
        subs = button.get("sub_button") or []
        parent = MenuButton.objects.create(
            account=account,
            position=position,
            name=button.get("name", ""),
            type="" if subs else button.get("type", ""),
            **({} if subs else _fields(button)),
        )
        for sub_position, sub in enumerate(subs):
            MenuButton.objects.create(
                account=account,
                parent=parent,
                position=sub_position,
                name=sub.get("name", ""),
                type=sub.get("type", ""),
                **_fields(sub),
            )


def _fields(button: dict[str, Any]) -> dict[str, str]:
    return {name: str(button.get(name) or "") for name in ACTION_FIELDS}


def publish_menu(
    body: dict[str, Any],
    *,
    account: Account | None = None,
    user=None,
    source: str = MenuPublication.Source.ADMIN,
    republished_from: MenuPublication | None = None,
    client=None,
) -> MenuPublication:
    """Send ``body`` to ``account``'s menu/create and return the recorded publication.

    Raise MenuRefused, sending and recording nothing, when the menu breaks WeChat's rules.
    Otherwise the publication is recorded whatever happens — WeChat's errcode, a timeout, a
    malformed answer, a secret that cannot be decrypted — with ``ok`` telling whether WeChat
    took it; a failure is logged. ``client`` defaults to one with the account's AppID and
    AppSecret (closed afterwards).
    """
    problems = check_menu(body)
    if problems:
        raise MenuRefused(problems)
    account = _account(account)
    publication = MenuPublication(
        account=account,
        published_by=user if getattr(user, "pk", None) else None,
        source=source,
        republished_from=republished_from,
        body=menu_json(body),
    )
    own_client = client is None
    try:
        client = client or client_for_account(account)
        client.create_menu(body)
        publication.ok = True
    except WeChatAPIError as error:
        publication.errcode = error.errcode
        publication.errmsg = error.errmsg
        publication.explanation = error.explanation
        logger.warning(
            "menu not published (%s, account %s, by %s): %s",
            source,
            account.slug,
            getattr(user, "username", None) or "a command",
            error,
        )
    finally:
        if own_client and client is not None:
            client.close()
    publication.save()
    if publication.ok:
        logger.info(
            "menu published (%s, account %s, by %s): publication #%s",
            source,
            account.slug,
            getattr(user, "username", None) or "a command",
            publication.pk,
        )
    return publication


def fetch_live_menu(account: Account | None = None, client=None) -> ImportedMenu:
    """Return the menu ``account``'s followers see: menu/get, or get_current_selfmenu_info when
    the menu was set in the console (menu/get then answers 46003). Raise WeChatAPIError when
    WeChat fails."""
    own_client = client is None
    client = client or client_for_account(_account(account))
    try:
        try:
            return menu_from_api(client.get_menu())
        except MenuNotFound:
            return menu_from_selfmenu_info(client.get_current_selfmenu_info())
    finally:
        if own_client:
            client.close()


@dataclass(frozen=True)
class KeyWarnings:
    """Menu keys no enabled rule answers, and enabled rules keyed to a key the menu lacks."""

    unanswered: list[tuple[str, str]]  # (key, button name)
    orphaned: list[tuple[int, str, str]]  # (rule id, rule name, key)


def key_warnings(body: dict[str, Any], *, account: Account | None = None) -> KeyWarnings:
    """Compare the keys of ``body`` (``account``'s menu) with the menu-click triggers of the
    enabled rules that answer on ``account``: its own and the every-account ones."""
    keys = menu_keys(body)
    answered: set[str] = set()
    orphaned = []
    # The rule index's own view of the rules: what the endpoint answers is what counts here.
    for spec in load_rule_specs(account_id=_account(account).pk):
        for trigger in spec.triggers:
            if trigger.kind != CLICK:
                continue
            answered.add(trigger.value)
            if trigger.value not in keys:
                orphaned.append((spec.id, spec.name, trigger.value))
    unanswered = [(key, name) for key, name in keys.items() if key not in answered]
    return KeyWarnings(unanswered=unanswered, orphaned=orphaned)


def draft_click_keys(accounts) -> dict[str, str]:
    """Return {key: button name} of the buttons that send a key when tapped, in the drafts of
    ``accounts`` (an iterable of Account; the first account's name wins for a shared key)."""
    keys: dict[str, str] = {}
    for account in accounts:
        for key, name in menu_keys(draft_body(account)).items():
            keys.setdefault(key, name)
    return keys
