"""Which official account a request to the endpoint is for, with its credentials, cheaply.

`/wechat/` serves the account configured in the environment: its credentials are the settings
(replies.endpoint.config, built once per process) and its id is read once per process, so it
costs no query per message, as before there were several accounts.

`/wechat/<slug>/` serves the stored account with that slug. Its row is read at most once per
WECHAT_RULES_MAX_STALENESS seconds per worker (the bound that already says how soon a rule edit
reaches every worker) and its secrets are decrypted only when what is stored changed, so a key
rotated in the admin or with `add_account --update` is used by every worker within that bound,
and no message pays for decrypting. An unknown slug is a 404, answered from the list of
stored slugs (read once per bound) without a query of its own; an account whose secrets no key of
WECHAT_SECRETS_KEYS decrypts is a 503 with a CRITICAL log line naming the account, never its
secrets. While the database cannot be reached, a worker keeps answering with the credentials it
has.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.credentials import account_credentials
from accounts.environment import ENVIRONMENT_SLUG, environment_account_id
from accounts.models import SECRET_NAMES, Account
from accounts.secrets import SecretsKeyMissing, SecretUnreadable
from accounts.validators import SLUG_PATTERN
from replies.endpoint.config import get_credentials
from replies.endpoint.deadline import database_deadline
from replies.endpoint.errors import (
    AccountUnavailable,
    DatabaseMisconfigured,
    UnknownAccount,
    is_outage,
)
from replies.protocol import Credentials, InvalidAESKey

logger = logging.getLogger("replies.endpoint")

_ROW_FIELDS = (
    "pk",
    "slug",
    "app_id",
    "original_id",
    *(f"{name}_encrypted" for name in SECRET_NAMES),
)


@dataclass(frozen=True)
class EndpointAccount:
    """The account a request is for, as the endpoint needs it."""

    # None only for the environment account while the database cannot tell its id (an outage
    # right after the worker started): the message is then spooled, and replay stores it there.
    account_id: int | None
    slug: str
    credentials: Credentials
    # Added to the dedup and request keys: "" for the environment account, whose keys predate
    # accounts (a retry straddling the upgrade still finds its row), the id for any other.
    key_scope: str


def environment_account(*, deadline_at: float | None = None) -> EndpointAccount:
    """Return the account `/wechat/` serves: the settings' credentials and the row's id."""
    credentials = get_credentials()
    if environment_account_id.cache_info().currsize:
        # Read once per process: no timer (two system calls) to arm on every message.
        account_id = environment_account_id()
    else:
        account_id = _read_environment_account_id(deadline_at)
    return EndpointAccount(
        account_id=account_id, slug=ENVIRONMENT_SLUG, credentials=credentials, key_scope=""
    )


def _read_environment_account_id(deadline_at: float | None) -> int | None:
    try:
        with database_deadline(deadline_at):
            return environment_account_id()
    except DatabaseError as error:
        if not is_outage(error):
            raise _schema_not_ready(ENVIRONMENT_SLUG, error) from error
        logger.error("environment account's id unavailable: database unreachable")
        return None


@dataclass(frozen=True)
class _Entry:
    stored: tuple  # the row's identifiers and encrypted secrets, as read
    account: EndpointAccount
    checked_at: float  # time.monotonic()


class _StoredAccounts:
    """This worker's stored accounts, by slug, each re-read once per staleness bound."""

    def __init__(self):
        self.entries: dict[str, _Entry] = {}
        self.lock = threading.Lock()
        # Every stored account's slug, read at most once per staleness bound: a request for a
        # slug no account has (a scanner trying /wechat/<anything>/) is a 404 without a query.
        # (time.monotonic() when read, the slugs): one tuple, swapped whole, so that a thread
        # never pairs a fresh time with an emptied set.
        self.slugs: tuple[float, frozenset[str]] = (-math.inf, frozenset())

    def get(self, slug: str, *, deadline_at: float | None) -> EndpointAccount:
        entry = self.entries.get(slug)
        now = time.monotonic()
        if entry is not None and now - entry.checked_at < settings.WECHAT_RULES_MAX_STALENESS:
            return entry.account
        if not SLUG_PATTERN.fullmatch(slug):
            raise UnknownAccount()  # no row can have it: no query
        if entry is None and not self._may_exist(slug, now=now, deadline_at=deadline_at):
            raise UnknownAccount()
        try:
            with database_deadline(deadline_at):
                row = (
                    Account.objects.filter(slug=slug, from_environment=False)
                    .only(*_ROW_FIELDS)
                    .first()
                )
        except DatabaseError as error:
            if not is_outage(error):
                raise _schema_not_ready(slug, error) from error
            if entry is not None:
                logger.warning("account %s unavailable; using the credentials in memory", slug)
                return entry.account
            logger.error("account %s unavailable: database unreachable", slug)
            raise AccountUnavailable() from None
        if row is None:
            self.entries.pop(slug, None)
            raise UnknownAccount()
        stored = (row.pk, row.app_id, row.original_id, *row.stored_secrets().values())
        if entry is not None and entry.stored == stored:
            account = entry.account
        else:
            account = _open(row)  # decrypts: once per change of the row, not per message
        with self.lock:
            self.entries[slug] = _Entry(stored=stored, account=account, checked_at=now)
        return account

    def _may_exist(self, slug: str, *, now: float, deadline_at: float | None) -> bool:
        """Return False when no stored account had `slug` at most one staleness bound ago.

        Made-up slugs then cost one query per bound per worker, however many arrive. An account
        added or renamed in this process is seen at once (saving an account forgets the slugs),
        in the other workers within the bound, as a rule edit is.
        """
        checked_at, slugs = self.slugs
        if now - checked_at >= settings.WECHAT_RULES_MAX_STALENESS:
            try:
                with database_deadline(deadline_at):
                    slugs = frozenset(
                        Account.objects.filter(from_environment=False).values_list(
                            "slug", flat=True
                        )
                    )
            except DatabaseError:
                return True  # the row's own read decides, and reports the fault
            self.slugs = (now, slugs)
        return slug in slugs

    def forget(self) -> None:
        with self.lock:
            self.entries.clear()
        self.forget_slugs()

    def forget_slugs(self) -> None:
        self.slugs = (-math.inf, frozenset())


def _open(row: Account) -> EndpointAccount:
    try:
        credentials = account_credentials(row).protocol_credentials()
    except (SecretsKeyMissing, SecretUnreadable, InvalidAESKey) as error:
        # The error names the setting, never a secret; the account is named by its slug.
        logger.critical(
            "account %s cannot answer: its stored secrets cannot be read (%s: %s); answering "
            "503. Run manage.py check --database default.",
            row.slug,
            type(error).__name__,
            error,
        )
        raise AccountUnavailable() from None
    return EndpointAccount(
        account_id=row.pk, slug=row.slug, credentials=credentials, key_scope=str(row.pk)
    )


def _schema_not_ready(slug: str, error: DatabaseError) -> DatabaseMisconfigured:
    logger.critical(
        "database refused the look-up of account %s with %s, not an outage (missing migration, "
        "table or column?): answering 503; run manage.py migrate",
        slug,
        type(error).__name__,
        exc_info=True,
    )
    return DatabaseMisconfigured()


_stored = _StoredAccounts()


def stored_account(slug: str, *, deadline_at: float | None = None) -> EndpointAccount:
    """Return the stored account `/wechat/<slug>/` serves.

    Raises UnknownAccount (404) when no stored account has `slug`, AccountUnavailable (503) when
    its secrets cannot be decrypted or the database cannot be asked for them the first time.
    """
    return _stored.get(slug, deadline_at=deadline_at)


def forget_stored_accounts() -> None:
    """Forget every stored account's credentials in this worker (tests)."""
    _stored.forget()


@receiver(setting_changed)
def _forget_on_new_keys(*, setting, **kwargs):
    if setting == "WECHAT_SECRETS_KEYS":
        forget_stored_accounts()


@receiver(post_save, sender=Account)
def _forget_slugs_on_account_saved(**kwargs):
    # An account added or renamed here answers at once in this process (in others within the
    # staleness bound), once its transaction commits (read before, the slugs would miss it).
    # The other accounts' credentials stay: each is re-read within the bound.
    transaction.on_commit(_stored.forget_slugs)
