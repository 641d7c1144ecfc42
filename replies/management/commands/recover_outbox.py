"""`manage.py recover_outbox`: settle the outbox before the worker starts (serve.sh, systemd).

Rows left "sending" by a worker that died mid-call (claimed longer ago than
WECHAT_OUTBOX_CLAIM_TIMEOUT) become "uncertain" and are not resent; every follower with rows
waiting gets a delivery task, in case its task was lost. Safe to run any time, as often as wanted.
"""

from django.core.management.base import BaseCommand

from replies.outbound.outbox import recover_outbox


class Command(BaseCommand):
    help = "Mark outgoing messages of dead senders uncertain and enqueue waiting deliveries."

    def handle(self, *args, **options):
        uncertain, followers = recover_outbox()
        self.stdout.write(
            f"outbox: {uncertain} uncertain (not resent), deliveries enqueued for "
            f"{followers} followers"
        )
