"""Copies of one message arriving at the same moment still make one row and one reply.

Runs on PostgreSQL (as in production, several workers racing on the unique index); SQLite's
in-memory test database serialises writers anyway, so the race cannot happen there.
"""

import threading

import pytest
from django.db import connection
from django.test import Client

from replies.models import Message
from replies.protocol import parse_xml
from replies.rules import ruleset
from tests.factories import make_rule

pytestmark = pytest.mark.django_db(transaction=True)

COPIES = 12
# One rule with this many replies, one picked at random per message: were each copy to choose
# its own reply, the 12 would agree by chance with odds of 1 in 64**11.
REPLIES = 64


@pytest.fixture(autouse=True)
def fresh_index():
    # The database is flushed between tests and the ruleset version can repeat: an index kept
    # in memory from another test would name rules that no longer exist.
    ruleset.forget_rule_index()
    yield
    ruleset.forget_rule_index()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
@pytest.mark.parametrize("mode", ["plain", "aes"])
def test_copies_at_once_make_one_row_and_identical_replies(wechat, mode):
    make_rule(
        keywords=["race"],
        reply_mode="random",
        replies=[{"reply_type": "text", "content": f"reply #{n}"} for n in range(REPLIES)],
    )
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
    assert parse_xml(stored)["Content"].startswith("reply #")  # a real rule answered
    # Every copy got the first stored reply, byte for byte.
    assert set(answers) == {stored}, {parse_xml(answer)["Content"] for answer in answers}
