"""What the commands share: common options, the account they act on, reading FILE or -,
reporting an import.

A command imports these from here, never from another command: a command module is an entry
point, and the helpers it shares need one home of their own. The console's menu commands use
them too (the console may depend on replies, never the other way round).
"""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.credentials import AccountCredentials, account_credentials
from accounts.environment import environment_account
from accounts.models import Account
from accounts.secrets import SecretsKeyMissing, SecretUnreadable
from replies.rules.transfer import (
    EVERY_ACCOUNT,
    ImportPlan,
    RuleScope,
    RulesFileError,
    account_scope,
)

DRY_RUN_HELP = "show what would change, write nothing"
ACCOUNT_HELP = (
    "the official account, by its URL name (the slug in /wechat/<slug>/); default: the account "
    "configured in the environment (WECHAT_*), which answers at /wechat/"
)
EVERY_ACCOUNT_HELP = "the rules that answer on every account, instead of one account's"


def add_account(parser: Any, *, every_account: bool = False, help: str = ACCOUNT_HELP) -> None:
    """Declare --account SLUG (and, with `every_account`, --every-account instead of it)."""
    target = parser.add_mutually_exclusive_group() if every_account else parser
    target.add_argument("--account", metavar="SLUG", help=help)
    if every_account:
        target.add_argument("--every-account", action="store_true", help=EVERY_ACCOUNT_HELP)


def account_from(slug: str | None) -> Account:
    """Return the account `slug` names (the environment account for None), or raise a
    one-line CommandError naming the accounts there are."""
    if slug is None:
        return environment_account()
    account = Account.objects.filter(slug=slug).first()
    if account is None:
        known = ", ".join(Account.objects.order_by("slug").values_list("slug", flat=True))
        raise CommandError(f"No official account {slug!r}; the accounts are: {known}.")
    return account


def credentials_of(account: Account) -> AccountCredentials:
    """Return `account`'s credentials, or raise a one-line CommandError when its stored
    secrets cannot be decrypted (no WECHAT_SECRETS_KEYS, or not the key they were saved with)."""
    try:
        return account_credentials(account)
    except (SecretsKeyMissing, SecretUnreadable) as error:
        raise CommandError(f"Cannot read the secrets of account {account.slug}: {error}") from None


def add_dry_run(parser: Any, *, help: str = DRY_RUN_HELP) -> None:
    """Declare --dry-run: do the work, write nothing."""
    parser.add_argument("--dry-run", action="store_true", help=help)


def read_input(path: str, *, stdin: Any = None) -> str:
    """Return the text of `path` (`-`: standard input), or raise a one-line CommandError."""
    if path == "-":
        return (stdin or sys.stdin).read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"No file {path}.") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text.") from None
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from None


def rule_scope_from(options: dict[str, Any]) -> RuleScope:
    """Return the rules' scope --account / --every-account name (the environment account's)."""
    if options.get("every_account"):
        return EVERY_ACCOUNT
    return account_scope(account_from(options.get("account")))


def refusal(error: RulesFileError) -> str:
    """Return the message for a refused file: every problem, and that nothing was written."""
    problems = "\n".join(f"  {problem}" for problem in error.problems)
    return f"Nothing was imported:\n{problems}"


def report_plan(command: BaseCommand, plan: ImportPlan, *, dry_run: bool) -> None:
    """Print one line per rule, then the totals (and that a dry run wrote nothing)."""
    for change in plan.changes:
        command.stdout.write(str(change))
    command.stdout.write(plan.summary())
    if dry_run:
        command.stdout.write("Dry run: nothing was written.")
