"""A stand-in for one gunicorn worker, for the cross-process rule-cache test.

Reads commands on stdin, one per line, answers one line each:
  match <text>            -> the reply text the rules give, or "-"
  set <keyword> <reply>   -> create or change the rule for <keyword>, answers "ok"
  prefix                  -> the cache key prefix in use (CACHE_KEY_PREFIX from the environment)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wxsite.settings")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

# The test gives each run its own cache key prefix, so that it never touches (or has to flush)
# anyone else's keys in a shared Redis. The cache is created on first use, after this.
if os.environ.get("CACHE_KEY_PREFIX"):
    settings.CACHES["default"]["KEY_PREFIX"] = os.environ["CACHE_KEY_PREFIX"]

django.setup()

from django.utils import timezone  # noqa: E402

from replies.models import ReplyRule, RuleReply, Trigger  # noqa: E402
from replies.protocol.client import build_message_xml  # noqa: E402
from replies.protocol.messages import parse_message  # noqa: E402
from replies.rules.choice import choose_reply  # noqa: E402


def match(text: str) -> str:
    xml = build_message_xml(
        msg_type="text", from_user="o1", to_user="gh_1", create_time=1, Content=text, MsgId=1
    )
    choice = choose_reply(parse_message(xml), now=timezone.now())
    return choice.reply.content if choice else "-"


def set_rule(keyword: str, reply: str) -> str:
    trigger = Trigger.objects.filter(kind="keyword", value=keyword).first()
    if trigger is None:
        rule = ReplyRule.objects.create(name=keyword)
        Trigger.objects.create(rule=rule, kind="keyword", match="exact", value=keyword)
        RuleReply.objects.create(rule=rule, reply_type="text", content=reply)
    else:
        row = trigger.rule.replies.get()
        row.content = reply
        row.save()
    return "ok"


for line in sys.stdin:
    command, _, rest = line.strip().partition(" ")
    if command == "match":
        print(match(rest), flush=True)
    elif command == "prefix":
        from django.core.cache import cache

        print(cache.key_prefix, flush=True)
    elif command == "set":
        keyword, _, reply = rest.partition(" ")
        print(set_rule(keyword, reply), flush=True)
