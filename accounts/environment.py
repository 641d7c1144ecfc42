"""The environment account's row: made sure of after every migrate, its id known per process.

Every account-scoped row (a message, a menu button, an outgoing message) defaults to this account,
so code written before there were several accounts — and `/wechat/`, which serves it — keeps
working unchanged. The id is read once per process: the row is made by a migration and never
deleted (the admin refuses), so it does not change while a process runs. A test database flushed
between tests gets a new row from the post_migrate handler; tests forget the cached id.
"""

from __future__ import annotations

from functools import cache

ENVIRONMENT_SLUG = "default"
ENVIRONMENT_NAME = "默认公众号"


def ensure_environment_account(sender=None, using="default", **kwargs) -> None:
    """Create the environment account's row when it is missing (post_migrate, after a flush)."""
    from accounts.models import Account

    Account.objects.using(using).get_or_create(
        from_environment=True,
        defaults={"slug": ENVIRONMENT_SLUG, "name": ENVIRONMENT_NAME, "all_staff": True},
    )
    forget_environment_account()


@cache
def environment_account_id() -> int:
    """Return the primary key of the account configured in the environment (WECHAT_*)."""
    from accounts.models import Account

    return Account.objects.filter(from_environment=True).values_list("pk", flat=True).get()


def environment_account():
    """Return the environment account's row (the account commands and pages default to)."""
    from accounts.models import Account

    return Account.objects.get(pk=environment_account_id())


def forget_environment_account() -> None:
    """Forget the cached id (tests: a flushed database gets a new row)."""
    environment_account_id.cache_clear()
