"""Shared by the outbound tests: the fake WeChat API wired into the settings, and the worker."""

import contextlib

from django.core.cache import cache

from tests.conftest import APP_ID
from wechat_api.fake import FakeWeChatAPI

SECRET = "0123456789abcdef0123456789abcdef"
CUSTOM_SEND = "/cgi-bin/message/custom/send"


@contextlib.contextmanager
def fake_api(settings):
    """The fake API over real HTTP, with the settings pointing every client at it."""
    with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        settings.WECHAT_API_BASE = server.url
        settings.WECHAT_APP_ID = APP_ID
        settings.WECHAT_APP_SECRET = SECRET
        settings.WECHAT_API_TIMEOUT = 2
        cache.clear()
        yield server
    cache.clear()


def run_worker() -> None:
    """Run django-tasks-db's own worker until no task is ready (its --batch mode), in process."""
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def sent_texts(fake) -> list[str]:
    """Return what the fake delivered, in order: the text, or the type for other messages."""
    return [
        message["text"]["content"] if message["msgtype"] == "text" else message["msgtype"]
        for message in fake.sent
    ]
