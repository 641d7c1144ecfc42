"""The insights' task for django-tasks: count a period's unanswered queries in the background.

Enqueued by the unanswered page (insights.background_counts) when the period is too large to
count in a request; run by `manage.py db_worker`, the worker that also sends the outbox.
"""

from django_tasks import task


@task()
def count_unanswered_queries(*, count_id: int) -> str:
    """Count what QueryCount `count_id` asks for; return its final status."""
    from insights.background_counts import run_count  # which enqueues this very task

    return run_count(count_id)
