"""System checks for the key that encrypts the accounts' secrets (accounts.E001–E003, W001).

A deployment that serves only the account configured in the environment stores no secret and needs
no key, so a missing WECHAT_SECRETS_KEYS is an error only once secrets are stored (E001). A key
that is set but malformed is always an error (E002): whoever set it meant to use it, and the first
save would fail. Stored secrets that no key decrypts (E003) mean a key was removed too early; one
encrypted with a key other than the first (W001) means `rotate_secrets_key` has not run yet.

E002 needs no database and runs with every check. The others read the accounts, so they are
database checks, as Django asks of a check that queries: `migrate` runs them (an upgrade shows
them), and so does `manage.py check --database default`; a plain `check` never opens a connection.
"""

from __future__ import annotations

from django.core import checks
from django.db import DatabaseError, router

from accounts.secrets import (
    SETTING,
    SecretUnreadable,
    configured_keys,
    decrypt_secret,
    keys_problem,
    needs_rotation,
)

_GENERATE = (
    'Generate one with: .venv/bin/python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


def _accounts_with_secrets(databases) -> list:
    """Return the stored accounts that hold at least one secret, in the databases asked about
    (none when the table is not there yet: `migrate` runs these checks before migrating)."""
    from accounts.models import Account

    found = []
    for alias in databases or ():
        if not router.allow_migrate_model(alias, Account):
            continue
        try:
            found += [
                account
                for account in Account.objects.using(alias).filter(from_environment=False)
                if any(account.stored_secrets().values())
            ]
        except DatabaseError:
            continue
    return found


@checks.register(checks.Tags.security)
def check_secrets_keys(app_configs=None, **kwargs):
    """Report a WECHAT_SECRETS_KEYS that is set but holds something that is not a Fernet key."""
    problem = keys_problem()
    if problem and configured_keys():
        return [
            checks.Error(
                problem,
                hint=f"Each key of {SETTING} is a Fernet key. {_GENERATE}",
                id="accounts.E002",
            )
        ]
    return []


@checks.register(checks.Tags.database)
def check_stored_secrets(app_configs=None, databases=None, **kwargs):
    """Report stored secrets without a key, secrets no key decrypts, and secrets still under an
    older key. A database check: `migrate` and `check --database default` run it."""
    problem = keys_problem()
    if problem and configured_keys():
        return []  # check_secrets_keys reports the malformed key
    accounts = _accounts_with_secrets(databases)
    if not accounts:
        return []
    if problem:
        return [
            checks.Error(
                f"{problem} {len(accounts)} official account(s) have encrypted secrets that "
                "cannot be read without it.",
                hint=f"Set {SETTING} to the key the secrets were saved with. {_GENERATE}",
                id="accounts.E001",
            )
        ]
    found = []
    for account in accounts:
        stored = [value for value in account.stored_secrets().values() if value]
        try:
            for value in stored:
                decrypt_secret(value)
        except SecretUnreadable:
            found.append(
                checks.Error(
                    f"No key of {SETTING} decrypts the secrets of official account "
                    f"{account.slug!r}.",
                    hint="Put back the key they were saved with (keep it after the first key), "
                    "run `manage.py rotate_secrets_key`, and only then remove it.",
                    id="accounts.E003",
                )
            )
            continue
        if any(needs_rotation(value) for value in stored):
            found.append(
                checks.Warning(
                    f"Official account {account.slug!r} has secrets encrypted with a key other "
                    f"than the first of {SETTING}.",
                    hint="Run `manage.py rotate_secrets_key` before removing the older key.",
                    id="accounts.W001",
                )
            )
    return found
