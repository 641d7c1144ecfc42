"""`manage.py replay_spool`: move messages spooled during a database outage into the database."""

from django.core.management.base import BaseCommand

from replies.endpoint.spool import replay_spool, spool_dir


class Command(BaseCommand):
    help = (
        "Write the messages kept in WECHAT_SPOOL_DIR during a database outage into the database "
        "(each once: a message already stored is skipped; one that differs from a stored message "
        "with the same key is moved to conflicts/ and listed in the admin under Spool conflicts). "
        "Safe to run at any time; gunicorn runs it at start-up."
    )

    def handle(self, *args, **options):
        result = replay_spool()
        self.stdout.write(
            f"{spool_dir()}: {result.stored} stored, {result.already_stored} already stored, "
            f"{result.conflicts} conflicts kept, {result.failed} failed, "
            f"{result.remaining} remaining"
        )
