"""A real worker process killed mid-call: its row is left "uncertain", never sent twice.

PostgreSQL only (the worker is another process and must see the test database; SQLite's test
database lives in this process's memory). The test starts django-tasks-db's `db_worker` itself,
makes the fake WeChat API hold the first customer-service call, kills the worker with SIGKILL
while it waits, then runs `recover_outbox` and a new worker as the systemd unit does.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from replies.models import OutgoingMessage, ReplyRule
from replies.rules import ruleset
from tests.conftest import APP_ID, OPENID
from tests.factories import make_rule
from tests.live_server import postgres_url
from tests.outbound_helpers import CUSTOM_SEND, SECRET, fake_api, sent_texts

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not postgres_url(), reason="needs PostgreSQL (DATABASE_URL)"),
]

ROOT = Path(__file__).resolve().parent.parent
REPLIES = ["第一条", "第二条", "第三条"]


def manage(fake, *args, claim_timeout="1"):
    """Start `manage.py ARGS` against the test database and the fake API."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "WECHAT_API_BASE": fake.url,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": SECRET,
        "WECHAT_API_TIMEOUT": "10",
        "WECHAT_OUTBOX_CLAIM_TIMEOUT": claim_timeout,
        "CACHE_URL": "",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def fake(settings):
    with fake_api(settings) as server:
        server.set_last_message(OPENID)
        yield server


def test_a_worker_killed_between_claim_and_answer_leaves_uncertain_not_resent(wechat, fake):
    ruleset.forget_rule_index()
    make_rule(
        "全部",
        keywords=["营业"],
        reply_mode=ReplyRule.ReplyMode.ALL,
        replies=[{"reply_type": "text", "content": text} for text in REPLIES],
    )
    wechat.post(wechat.xml("text", Content="营业"))
    fake.add_fault("delay", delay=2.0, path=CUSTOM_SEND)  # WeChat takes its time, then delivers

    worker = manage(fake, "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1")
    try:
        wait_for(lambda: len(fake.calls_to(CUSTOM_SEND)) == 1)  # mid-call
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    first = OutgoingMessage.objects.order_by("id").first()
    assert first.status == "sending"
    wait_for(lambda: len(fake.sent) == 1)  # WeChat delivered it after the worker died
    time.sleep(1.1)  # past the claim timeout the next run is given

    recovered = manage(fake, "recover_outbox")
    output, _ = recovered.communicate(timeout=60)
    assert recovered.returncode == 0, output
    assert "1 uncertain" in output
    batch = manage(fake, "db_worker", "--no-reload", "--no-startup-delay", "--batch")
    output, _ = batch.communicate(timeout=60)
    assert batch.returncode == 0, output

    first.refresh_from_db()
    assert first.status == "uncertain"
    assert sent_texts(fake) == REPLIES[1:]  # each once: the uncertain one was not resent
    assert list(OutgoingMessage.objects.order_by("id").values_list("status", flat=True)) == [
        "uncertain",
        "sent",
    ]
