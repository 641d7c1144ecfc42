"""`manage.py export_menu [--account SLUG]`: an account's draft (or live) custom menu as
menu/create's JSON."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from console.menus import draft_body, fetch_live_menu
from replies.management.options import account_from, add_account
from wechat_api.errors import WeChatAPIError


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Write an account's draft custom menu as the JSON menu/create takes (what publish_menu "
        "reads). With --live, the menu its followers see now, read from WeChat."
    )

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="write to this file instead of stdout")
        parser.add_argument(
            "--live", action="store_true", help="export the live menu from WeChat's API"
        )
        add_account(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        account = account_from(options["account"])
        if options["live"]:
            try:
                live = fetch_live_menu(account)
            except WeChatAPIError as error:
                raise CommandError(f"Could not read the live menu: {error}") from None
            body = live.body
            for note in live.notes:
                kind = f"{note.kind} button “{note.name}”"
                if note.code == "console_type":
                    self.stderr.write(
                        f"Note: the console's {kind} became a click with key {note.key}."
                    )
                else:
                    self.stderr.write(f"Note: the {kind} is left out (unknown type).")
        else:
            body = draft_body(account)
        text = json.dumps(body, ensure_ascii=False, indent=2) + "\n"
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
