"""Add an official account, or change one (--update), from a script: validated by the admin's form.

    manage.py add_account --slug shop --name 商城服务号 --app-id wx… --token … --aes-key …
    manage.py add_account --update --slug shop --aes-key NEW     # the old key becomes "previous"

Secrets are never printed, not even in an error. Values on a command line can be seen by other
users of the machine (ps) and land in the shell's history: on a shared host, pass them from
variables read from a file (`--token "$TOKEN"`).
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.forms import AccountForm
from accounts.models import Account

# The options that are form fields of the same name.
_VALUES = ("name", "original_id", "app_id", "token", "aes_key", "previous_aes_key", "app_secret")


class Command(BaseCommand):
    help = (
        "Add an official account (or change one with --update), validated like the admin's form. "
        "Never prints a secret."
    )

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="its URL name: /wechat/SLUG/")
        parser.add_argument("--name", help="what staff call it")
        parser.add_argument("--app-id", dest="app_id", help="AppID, wx + 16 hexadecimal digits")
        parser.add_argument("--token", help="Token: 3-32 letters and digits")
        parser.add_argument("--aes-key", dest="aes_key", help="EncodingAESKey: 43 characters")
        parser.add_argument(
            "--previous-aes-key",
            dest="previous_aes_key",
            help="the EncodingAESKey before the last change, while WeChat may still use it",
        )
        parser.add_argument("--app-secret", dest="app_secret", help="AppSecret (optional)")
        parser.add_argument("--original-id", dest="original_id", help="原始ID, gh_…")
        parser.add_argument(
            "--member",
            action="append",
            default=[],
            metavar="USERNAME",
            help="a staff user who may see the account (repeat; with --update: added)",
        )
        parser.add_argument(
            "--update", action="store_true", help="change the account SLUG instead of adding one"
        )
        parser.add_argument(
            "--drop-previous-aes-key",
            action="store_true",
            help="with --update and --aes-key: do not keep the replaced key as the previous one",
        )
        parser.add_argument(
            "--clear-previous-aes-key",
            action="store_true",
            help="with --update: remove the previous EncodingAESKey",
        )
        parser.add_argument(
            "--clear-app-secret", action="store_true", help="with --update: remove the AppSecret"
        )

    def handle(self, *args, **options):
        slug = options["slug"]
        instance = self._instance(slug, update=options["update"])
        members = self._members(options["member"])
        data = {"slug": slug}
        if instance.pk:
            data |= {
                "name": instance.name,
                "original_id": instance.original_id,
                "app_id": instance.app_id,
                "members": [user.pk for user in instance.members.all()],
            }
        data |= {name: options[name] for name in _VALUES if options[name] is not None}
        data["members"] = sorted({*data.get("members", []), *(user.pk for user in members)})
        data["keep_previous_aes_key"] = not options["drop_previous_aes_key"]
        data["clear_previous_aes_key"] = options["clear_previous_aes_key"]
        data["clear_app_secret"] = options["clear_app_secret"]
        form = AccountForm(data=data, instance=instance)
        if not form.is_valid():
            raise CommandError(_describe_errors(form))
        with transaction.atomic():
            account = form.save()
        changed = sorted(form.new_secrets)
        verb = "Changed" if options["update"] else "Added"
        self.stdout.write(
            f"{verb} official account {account.slug!r} ({account.name}); "
            f"WeChat's console URL: https://<your host>{account.endpoint_path}"
        )
        if changed:
            self.stdout.write(f"Secrets saved (encrypted): {', '.join(changed)}.")

    def _instance(self, slug: str, *, update: bool) -> Account:
        existing = Account.objects.filter(slug=slug).first()
        if not update:
            if existing is not None:
                raise CommandError(
                    f"An official account {slug!r} exists already: add --update to change it."
                )
            return Account()
        if existing is None:
            raise CommandError(f"No official account {slug!r} to update.")
        if existing.from_environment:
            raise CommandError(
                f"{slug!r} is the account configured in the environment: its secrets are the "
                "WECHAT_* settings, change them there; its name and members in the admin."
            )
        return existing

    def _members(self, usernames: list[str]) -> list:
        users = []
        model = get_user_model()
        for username in usernames:
            user = model.objects.filter(**{model.USERNAME_FIELD: username}).first()
            if user is None:
                raise CommandError(f"No user {username!r}.")
            if not user.is_staff:
                raise CommandError(
                    f"User {username!r} is not staff: only staff can be members of an account."
                )
            users.append(user)
        return users


def _describe_errors(form) -> str:
    """Return the form's errors, one line each, named by option; never a submitted value."""
    lines = []
    for field, errors in form.errors.as_data().items():
        option = "" if field == "__all__" else f"--{field.replace('_', '-')}: "
        for error in errors:
            lines.extend(f"  {option}{message}" for message in error.messages)
    return "Nothing was saved:\n" + "\n".join(lines)
