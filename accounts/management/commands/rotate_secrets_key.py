"""Re-encrypt every stored secret with the first key of WECHAT_SECRETS_KEYS.

The middle step of a key rotation: (1) put a new key first in WECHAT_SECRETS_KEYS, keeping the old
one after it, and restart; (2) run this; (3) remove the old key and restart. It runs in one
transaction: if any secret cannot be decrypted, nothing is changed and the command says which
account holds it. Running it twice is harmless.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Account
from accounts.secrets import SecretUnreadable, keys_problem, rotate_secret


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored account secret with the first key of WECHAT_SECRETS_KEYS, so "
        "that the keys after it can be removed."
    )

    def handle(self, *args, **options):
        problem = keys_problem()
        if problem:
            raise CommandError(f"{problem} Nothing was changed.")
        secrets = accounts = 0
        try:
            with transaction.atomic():
                stored = Account.objects.select_for_update().filter(from_environment=False)
                for account in stored.order_by("pk"):
                    changes = {
                        f"{name}_encrypted": rotate_secret(value)
                        for name, value in account.stored_secrets().items()
                        if value
                    }
                    if changes:
                        # update(), not save(): a new encryption is no edit, updated_at stays.
                        Account.objects.filter(pk=account.pk).update(**changes)
                        secrets += len(changes)
                        accounts += 1
        except SecretUnreadable:
            raise CommandError(
                f"No key of WECHAT_SECRETS_KEYS decrypts the secrets of official account "
                f"{account.slug!r}: put back the key they were saved with (after the first "
                "one) and run this again. Nothing was changed."
            ) from None
        self.stdout.write(
            f"Re-encrypted {secrets} secret(s) of {accounts} official account(s) with the first "
            "key of WECHAT_SECRETS_KEYS; the keys after it can now be removed."
        )
