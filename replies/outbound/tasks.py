"""The outbox's task for django-tasks: deliver one follower's waiting messages.

Enqueued in the transaction that stores the follow-ups (a row in the task table of the same
database), run by `manage.py db_worker`. The task carries only the follower; the rows it sends
are read when it runs, so a task that runs twice, late or after a newer one sends nothing twice.
"""

from django_tasks import task


@task()
def deliver_outbox(*, openid: str, account_id: int) -> int:
    """Send `openid`'s waiting outgoing messages in order; return how many went out."""
    from replies.outbound.outbox import deliver_follower  # outbox enqueues this very task

    return deliver_follower(openid=openid, account_id=account_id)
