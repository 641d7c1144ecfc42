"""`manage.py import_console_rules [--account SLUG]`: bring an official account's WeChat
console auto-reply rules into wxsite, as that account's rules."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from replies.management.options import (
    EVERY_ACCOUNT_HELP,
    account_from,
    add_account,
    add_dry_run,
    credentials_of,
    read_input,
    refusal,
    report_plan,
)
from replies.rules.console_import import (
    ConsoleImportError,
    convert_console_rules,
    fetch_autoreply_info,
)
from replies.rules.transfer import EVERY_ACCOUNT, UNCHANGED, RuleScope, RulesFileError, apply_rules
from wechat_api.from_django import client_for_account


class Command(BaseCommand):
    # Like loaddata: data in, no need to check the whole project first.
    requires_system_checks = []
    help = (
        "Import the auto-reply rules of the WeChat console (自动回复: keyword, follow and "
        "default replies) from the JSON of its get_current_autoreply_info API, as the rules of "
        "an official account (--account; the environment's by default). Without FILE, fetch "
        "it with that account's AppID and AppSecret (WECHAT_APP_ID and WECHAT_APP_SECRET for "
        "the environment's). Rules are matched by name, so importing again changes nothing."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument(
            "file",
            nargs="?",
            help="the API's JSON answer, or - for standard input; without it, fetch it",
        )
        add_dry_run(parser)
        parser.add_argument(
            "--access-token",
            default="",
            help="use this access token as it is instead of getting one from stable_token "
            "(which already shares the token with the account's other services)",
        )
        parser.add_argument(
            "--save", metavar="FILE", help="also write the fetched JSON to FILE, for the record"
        )
        add_account(parser)
        parser.add_argument(
            "--every-account",
            action="store_true",
            help=f"{EVERY_ACCOUNT_HELP} (still fetched from --account's console)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = account_from(options["account"])
        scope = EVERY_ACCOUNT if options["every_account"] else RuleScope(account=account)
        info = self.read_info(options, account=account)
        try:
            conversion = convert_console_rules(info)
            plan = apply_rules(conversion.rules, scope=scope, dry_run=options["dry_run"])
        except ConsoleImportError as error:
            raise CommandError(str(error)) from None
        except RulesFileError as error:
            raise CommandError(refusal(error)) from None
        # A rule imported before and unchanged since was explained then: no need to repeat.
        unchanged = {change.name for change in plan.changes if change.action == UNCHANGED}
        for note in conversion.notes:
            if note.rule not in unchanged:
                self.stdout.write(f"Note: {note}")
        report_plan(self, plan, dry_run=options["dry_run"])

    def read_info(self, options: dict[str, Any], *, account: Account) -> Any:
        """Return the console's JSON: from FILE, or fetched from `account`'s API."""
        if options["file"]:
            source = options["file"]
            text = read_input(source, stdin=options.get("stdin"))
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise CommandError(
                    f"{source} is not JSON: {error.msg} (line {error.lineno})."
                ) from None
        credentials = credentials_of(account)
        token = options["access_token"]
        if not credentials.app_id or not (credentials.app_secret or token):
            where = (
                "set WECHAT_APP_ID and WECHAT_APP_SECRET"
                if account.from_environment
                else f"give account {account.slug} its AppID and AppSecret"
            )
            raise CommandError(
                f"Give the JSON file, or {where} (or pass --access-token) to fetch it from WeChat."
            )
        overrides = {"access_token": token, "app_secret": ""} if token else {}
        try:
            with client_for_account(account, **overrides) as client:
                info = fetch_autoreply_info(client)
        except ConsoleImportError as error:
            raise CommandError(str(error)) from None
        if options["save"]:
            Path(options["save"]).write_text(
                json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
        self.stdout.write("Fetched the console's auto-reply rules from WeChat.")
        return info
