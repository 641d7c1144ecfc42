"""django-tasks-db (the outbox worker's task table) under names in the operators' language.

Its rows are the worker's bookkeeping and its admin is taken off the site (replies.admin.outbox),
but its permissions still show in the user and group pages, labelled with the app's and the
model's names: English in django-tasks-db ("Tasks Database Backend", "Task Result"). As
staff.apps.AxesConfig does for django-axes, this config names them in our catalogue.
"""

from django.utils.translation import gettext_lazy as _
from django_tasks_db.apps import TasksAppConfig


class TasksDatabaseConfig(TasksAppConfig):
    """django-tasks-db as it is, with translated app and model names."""

    default = False
    verbose_name = _("Background tasks")

    def ready(self) -> None:
        super().ready()
        meta = self.get_model("DBTaskResult")._meta
        meta.verbose_name = _("background task")
        meta.verbose_name_plural = _("background tasks")
