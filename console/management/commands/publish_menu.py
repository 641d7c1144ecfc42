"""`manage.py publish_menu FILE [--account SLUG] [--dry-run]`: publish a custom menu from
menu/create's JSON, to one official account (the environment's by default)."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from console.menus import MenuRefused, publish_menu
from console.models import MenuPublication
from replies.management.options import account_from, add_account, read_input
from wechat_api.menu import check_menu


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Publish the custom menu in FILE (the JSON menu/create takes, as export_menu writes it) "
        "with the account's AppID and AppSecret (WECHAT_APP_ID and WECHAT_APP_SECRET for the "
        "environment's). A menu that breaks WeChat's rules is refused before anything is sent. "
        "Every publication is recorded in the admin's history of that account."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help='the menu JSON ({"button": [...]}), or - for stdin')
        parser.add_argument("--dry-run", action="store_true", help="check the menu, send nothing")
        add_account(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        text = read_input(source, stdin=options.get("stdin"))
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{source} is not JSON: {error.msg} (line {error.lineno})."
            ) from None
        problems = check_menu(body)
        if problems:
            raise CommandError(
                "The menu breaks WeChat's rules, nothing was sent:\n"
                + "\n".join(f"  {problem.message}" for problem in problems)
            )
        buttons = body["button"]
        count = len(buttons) + sum(len(button.get("sub_button") or []) for button in buttons)
        # A dry run reads no database, unless an account is named (it must exist).
        account = (
            account_from(options["account"])
            if options["account"] or not options["dry_run"]
            else None
        )
        if options["dry_run"]:
            self.stdout.write(
                f"The menu is valid: {len(buttons)} buttons, {count} in all "
                "(dry run: nothing sent)."
            )
            return
        try:
            publication = publish_menu(body, account=account, source=MenuPublication.Source.COMMAND)
        except MenuRefused as refusal:  # checked above; kept for a rule that changes meanwhile
            raise CommandError(str(refusal)) from None
        if not publication.ok and publication.errcode is None:
            # WeChat said nothing (not configured, unreachable, a timeout): the details are the
            # client's own words, and after a timeout WeChat may have taken the menu after all.
            raise CommandError(
                "The menu was not published, or WeChat did not confirm it "
                f"(publication #{publication.pk}): {publication.explanation} "
                f"({publication.errmsg})"
            )
        if not publication.ok:
            raise CommandError(
                f"WeChat did not publish the menu (publication #{publication.pk}): "
                f"errcode {publication.errcode}: {publication.explanation} "
                f"(WeChat: {publication.errmsg})"
            )
        self.stdout.write(
            f"Published: {len(buttons)} buttons, {count} in all (publication #{publication.pk}, "
            f"account {account.slug})."
        )
