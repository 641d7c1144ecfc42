"""`manage.py fake_wechat_api [HOST:PORT]`: run the fake WeChat API to try the admin locally."""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from replies.management.options import credentials_of
from wechat_api.fake import FakeWeChatAPI

DEFAULT_ADDRESS = "127.0.0.1:8100"


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Serve a fake of WeChat's API (stable_token, menu, custom messages, the console's "
        "auto-reply) until Ctrl-C. Start wxsite with WECHAT_API_BASE set to the address this "
        "prints. It accepts WECHAT_APP_ID and WECHAT_APP_SECRET (or the fake's own when unset), "
        "and with --stored-accounts every official account stored in the database, each with a "
        "menu and followers of its own."
    )

    def add_arguments(self, parser):
        parser.add_argument("address", nargs="?", default=DEFAULT_ADDRESS, help="HOST:PORT")
        parser.add_argument("--app-id", default="", help="the AppID to accept")
        parser.add_argument("--app-secret", default="", help="the AppSecret to accept")
        parser.add_argument(
            "--app",
            action="append",
            default=[],
            metavar="APPID:SECRET",
            help="another account to serve (repeat for several)",
        )
        parser.add_argument(
            "--stored-accounts",
            action="store_true",
            help="also serve every account stored in the database that has an AppID and AppSecret",
        )
        parser.add_argument(
            "--follower",
            action="append",
            default=[],
            metavar="OPENID",
            help="a follower who has just written (custom messages to them are accepted)",
        )
        parser.add_argument(
            "--autoreply", metavar="FILE", help="JSON for get_current_autoreply_info"
        )
        parser.add_argument(
            "--console-menu",
            metavar="FILE",
            help="JSON for get_current_selfmenu_info, as if the menu were set in the console",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, _, port = options["address"].rpartition(":")
        if not port.isdigit():
            raise CommandError(f"Give the address as HOST:PORT, not {options['address']!r}.")
        app_id = options["app_id"] or settings.WECHAT_APP_ID or "wx_fake_app_id"
        secret = options["app_secret"] or settings.WECHAT_APP_SECRET or "fake-app-secret"
        others = self.other_apps(options)
        try:
            fake = FakeWeChatAPI(
                app_id=app_id,
                app_secret=secret,
                host=host or "127.0.0.1",
                port=int(port),
                on_call=self.print_call,
            )
        except OSError as error:
            raise CommandError(f"Cannot listen on {options['address']}: {error}") from None
        for other_id, other_secret in others:
            fake.add_app(other_id, other_secret)
        for openid in options["follower"]:
            fake.set_last_message(openid)
        if options["autoreply"]:
            fake.autoreply_info = self.read_json(options["autoreply"])
        if options["console_menu"]:
            fake.console_menu = self.read_json(options["console_menu"])
        self.stdout.write(f"Fake WeChat API on {fake.url} for AppID {', '.join(fake.apps)}.")
        self.stdout.write(
            f"Point wxsite at it: WECHAT_API_BASE={fake.url} WECHAT_APP_ID={app_id} "
            "WECHAT_APP_SECRET=<the secret>. Calls are printed below; Ctrl-C stops."
        )
        self.stdout.flush()
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
        finally:
            fake.stop()

    def other_apps(self, options: dict[str, Any]) -> list[tuple[str, str]]:
        """Return (AppID, AppSecret) of --app and, with --stored-accounts, of stored accounts."""
        apps = []
        for value in options["app"]:
            app_id, _, secret = value.partition(":")
            if not app_id or not secret:
                raise CommandError(f"Give --app as APPID:SECRET, not {value!r}.")
            apps.append((app_id, secret))
        if options["stored_accounts"]:
            for account in Account.objects.filter(from_environment=False).exclude(app_id=""):
                credentials = credentials_of(account)
                if credentials.app_secret:
                    apps.append((credentials.app_id, credentials.app_secret))
        return apps

    def print_call(self, call: dict) -> None:
        body = json.dumps(call["body"], ensure_ascii=False) if call["body"] is not None else ""
        fault = f" [{call['fault']}]" if call["fault"] else ""
        self.stdout.write(
            f"{call['method']} {call['path']} -> errcode {call['errcode']}{fault} {body[:200]}"
        )
        self.stdout.flush()

    def read_json(self, path: str) -> Any:
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from None
