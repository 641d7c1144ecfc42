"""Copies of one message arriving at the same moment still make one row and one reply.

Runs on PostgreSQL (as in production, several workers racing on the unique index); SQLite's
in-memory test database serialises writers anyway, so the race cannot happen there.
"""

import itertools
import threading

import pytest
from django.db import connection
from django.test import Client

from replies.endpoint import handling
from replies.models import Message
from replies.protocol import TextReply, parse_xml
from replies.rules.choice import ReplyChoice

pytestmark = pytest.mark.django_db(transaction=True)

COPIES = 12


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
@pytest.mark.parametrize("mode", ["plain", "aes"])
def test_copies_at_once_make_one_row_and_identical_replies(wechat, monkeypatch, mode):
    counter = itertools.count()
    lock = threading.Lock()

    def numbered_reply(message, now, **_):
        with lock:
            return ReplyChoice(TextReply(f"reply #{next(counter)}"))

    monkeypatch.setattr(handling, "choose_reply", numbered_reply)
    query, body = wechat.signed(wechat.xml("text", Content="race"), mode=mode)
    barrier = threading.Barrier(COPIES)
    answers, errors = [], []

    def deliver():
        try:
            barrier.wait()
            server = type(wechat)(Client(), wechat.credentials)
            answers.append(server.reply(server.post_raw(query, body), mode=mode))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert Message.objects.count() == 1
    stored = Message.objects.get().reply_xml.encode()
    assert len(answers) == COPIES
    assert {parse_xml(answer)["Content"] for answer in answers} == {parse_xml(stored)["Content"]}
