"""Time what depends on the database's size: the message log in the admin, the rule rebuild.

Run by bench/run.py with wxsite's settings and one DATABASE_URL:

    DATABASE_URL=... python bench/db_bench.py rebuild [--keywords 100000] [--json PATH]
    DATABASE_URL=... python bench/db_bench.py admin [--rows 1000000] [--json PATH]

1. rebuild: loads the reply rules of bench/match_bench.py's 100,000-keyword set (about 18,500
   rules) and times what a worker does when an operator edits a rule: read them back from the
   database and build the index (replies.rules.ruleset.get_rule_index after the version moved).
2. admin: loads `--rows` Message rows with a fast bulk generator — COPY on PostgreSQL,
   executemany in 50,000-row transactions on SQLite — with a realistic mix: 70% text, the other
   message types, 12% events (follow, menu click, menu link, location…); 50,000 followers, a few
   of them very active; times spread over 90 days; 60% of texts answered by a rule. The table is
   reused when it already holds exactly that many rows (`--reload` to force).
   Then times, as a logged-in superuser through Django's test client (the whole admin stack, no
   HTTP server), the message-log list, two filters and three searches, and records each page's
   SQL; on PostgreSQL the slowest statement of each page gets an EXPLAIN ANALYZE.

Prints one JSON document (and writes it to --json).
"""

import argparse
import base64
import hashlib
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wxsite.settings")

import django  # noqa: E402 - settings module set first

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench import match_bench  # noqa: E402
from replies.models import Message, ReplyRule, RuleReply, Trigger  # noqa: E402
from replies.rules import ruleset as matching  # noqa: E402

SEED = 20250314
BATCH = 50_000
FOLLOWERS = 50_000
DAYS = 90
TIMED_REQUESTS = 5
ADMIN_USER = "bench-admin"
ACCOUNT = "gh_0123456789ab"
# A word in about 1% of the texts, and text that is in exactly one row.
COMMON_WORD = "退款"
RARE_TEXT = "订单号 BENCH-7741-UNIQUE"
TYPES = [
    ("text", "", 70),
    ("image", "", 8),
    ("voice", "", 5),
    ("video", "", 1),
    ("shortvideo", "", 1),
    ("location", "", 2),
    ("link", "", 1),
    ("event", "subscribe", 3),
    ("event", "unsubscribe", 1),
    ("event", "click", 5),
    ("event", "view", 2),
    ("event", "location", 1),
]


# --- rules and the rebuild --------------------------------------------------------------------


def load_rules(keyword_total: int) -> dict:
    """Replace the rules with match_bench's set of `keyword_total` keywords; return counts."""
    rng = random.Random(f"{match_bench.SEED}-{keyword_total}")
    specs, _by_mode = match_bench.make_rules(rng, keyword_total)
    with transaction.atomic():
        Trigger.objects.all().delete()
        RuleReply.objects.all().delete()
        ReplyRule.objects.all().delete()
        rules = ReplyRule.objects.bulk_create(
            [
                ReplyRule(
                    name=spec.name[:60],
                    priority=spec.priority,
                    reply_mode="first",
                    daily_from=spec.schedule.daily_from if spec.schedule else None,
                )
                for spec in specs
            ],
            batch_size=5_000,
        )
        Trigger.objects.bulk_create(
            [
                Trigger(rule=rule, kind=t.kind, match=t.match, value=t.value)
                for spec, rule in zip(specs, rules, strict=True)
                for t in spec.triggers
            ],
            batch_size=5_000,
        )
        RuleReply.objects.bulk_create(
            [RuleReply(rule=rule, content=f"reply {rule.pk}") for rule in rules], batch_size=5_000
        )
        matching.bump_ruleset_version()
    return {"rules": len(rules), "keywords": keyword_total}


def time_rebuild(passes: int = 3) -> dict:
    """Return how long a worker takes to reload the rules and rebuild its index (median s)."""
    seconds = []
    for _ in range(passes):
        matching.forget_rule_index()
        started = time.perf_counter()
        index = matching.get_rule_index()
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    specs = matching.load_rule_specs()
    load_seconds = time.perf_counter() - started
    return {
        "rebuild_s": round(statistics.median(seconds), 3),
        "load_from_db_s": round(load_seconds, 3),
        "rules": index.rule_count,
        "keywords": index.keyword_count,
        "specs": len(specs),
    }


# --- the message log --------------------------------------------------------------------------


def _texts(rng: random.Random) -> list[str]:
    words = [match_bench.make_word(rng) for _ in range(2_000)]
    texts = []
    for number in range(20_000):
        parts = [match_bench.filler(rng, rng.randint(0, 12)), rng.choice(words)]
        if number % 100 == 0:
            parts.append(COMMON_WORD)
        parts.append(match_bench.filler(rng, rng.randint(0, 20)))
        texts.append("".join(parts))
    return texts


def _value_makers(rule_ids: list[int]):
    """Return a function making the column values of row number n, as a dict."""
    rng = random.Random(SEED)
    texts = _texts(rng)
    openids = [
        "o" + base64.urlsafe_b64encode(hashlib.sha1(str(n).encode()).digest())[:27].decode()
        for n in range(FOLLOWERS)
    ]
    kinds = [(msg_type, event) for msg_type, event, weight in TYPES for _ in range(weight)]
    now = datetime.now(UTC)
    span = DAYS * 86_400

    def values(number: int) -> dict:
        msg_type, event = kinds[rng.randrange(len(kinds))]
        openid = openids[int(FOLLOWERS * rng.random() ** 3)]
        received = now - timedelta(seconds=rng.random() * span)
        created = received - timedelta(seconds=rng.randint(0, 2))
        stamp = int(created.timestamp())
        row = {
            "dedup_key": hashlib.sha1(b"m%d" % number).hexdigest(),
            "request_key": hashlib.sha1(b"r%d" % number).hexdigest(),
            "mode": "aes" if rng.random() < 0.8 else "plain",
            "to_user": ACCOUNT,  # account_id: the column's default, the environment account
            "openid": openid,
            "msg_type": msg_type,
            "event": event,
            "created_at": created,
            "received_at": received,
            "handling_ms": round(rng.uniform(0.8, 6.0), 3),
        }
        fields = ""
        if msg_type == "text":
            content = RARE_TEXT if number == 4_242 else texts[rng.randrange(len(texts))]
            row["content"] = content
            fields = f"<Content><![CDATA[{content}]]></Content>"
        elif msg_type == "voice":
            row["media_id"] = f"media{number}"
            row["recognition"] = texts[rng.randrange(len(texts))]
        elif msg_type in ("image", "video", "shortvideo"):
            row["media_id"] = f"media{number}"
            row["pic_url"] = f"http://mmbiz.qpic.cn/mmbiz/{number}/0" if msg_type == "image" else ""
        elif msg_type == "location" or event == "location":
            row["latitude"], row["longitude"] = 23.1 + rng.random(), 113.2 + rng.random()
            row["label"] = "广州市天河区" if msg_type == "location" else ""
        elif msg_type == "link":
            row["title"], row["url"] = "文章标题", f"https://mp.weixin.qq.com/s/{number}"
        elif event in ("click", "view"):
            key = f"MENU_{rng.randrange(12)}" if event == "click" else "https://example.com/m"
            row["event_key"] = key
            row["url"] = key if event == "view" else ""
            fields = (
                f"<Event><![CDATA[{event.upper()}]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
            )
        if msg_type != "event":
            row["msg_id"] = str(23_000_000_000_000_000 + number)
            fields += f"<MsgId>{row['msg_id']}</MsgId>"
        xml = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA["
            f"{openid}]]></FromUserName><CreateTime>{stamp}</CreateTime><MsgType><![CDATA["
            f"{msg_type}]]></MsgType>{fields}</xml>"
        )
        if row["mode"] == "aes":
            row["decrypted_xml"] = xml
            cipher = base64.b64encode(rng.randbytes(len(xml.encode()) + 52)).decode()
            row["raw_xml"] = (
                f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{cipher}]]></Encrypt></xml>"
            )
        else:
            row["raw_xml"] = xml
        if (msg_type == "text" and rng.random() < 0.6) or event in ("subscribe", "click"):
            rule_id = rule_ids[rng.randrange(len(rule_ids))]
            row["rule_id"] = rule_id
            row["rule_name"] = f"rule {rule_id}"
            row["reply_type"] = "text"
            row["reply_summary"] = f"reply {rule_id}"
            row["reply_xml"] = (
                f"<xml><ToUserName><![CDATA[{openid}]]></ToUserName><FromUserName><![CDATA["
                f"{ACCOUNT}]]></FromUserName><CreateTime>{stamp}</CreateTime><MsgType><![CDATA["
                f"text]]></MsgType><Content><![CDATA[reply {rule_id}]]></Content></xml>"
            )
        return row

    return values


def _columns() -> list:
    return [field for field in Message._meta.concrete_fields if not field.primary_key]


def _default(field):
    if field.has_default():
        value = field.get_default()
        return value() if callable(value) else value
    return None if field.null else ""


def load_messages(rows: int) -> dict:
    """Delete the log and bulk-load `rows` generated rows; return how long it took."""
    fields = _columns()
    names = [field.column for field in fields]
    defaults = {field.attname: _default(field) for field in fields}
    rule_ids = list(ReplyRule.objects.values_list("pk", flat=True)[:200]) or [None]
    make_values = _value_makers(rule_ids)

    def tuples(start: int, stop: int):
        for number in range(start, stop):
            values = make_values(number)
            yield tuple(values.get(field.attname, defaults[field.attname]) for field in fields)

    started = time.perf_counter()
    table = Message._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
        raw = connection.connection
        with raw.cursor() as cursor:
            columns = ", ".join(f'"{name}"' for name in names)
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in tuples(0, rows):
                    copy.write_row(row)
        raw.commit() if not raw.autocommit else None
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
        placeholders = ", ".join("?" for _ in names)
        columns = ", ".join(f'"{name}"' for name in names)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        raw = connection.connection
        for start in range(0, rows, BATCH):
            rows_batch = [
                tuple(
                    value.isoformat(sep=" ") if isinstance(value, datetime) else value
                    for value in row
                )
                for row in tuples(start, min(rows, start + BATCH))
            ]
            with transaction.atomic():
                raw.executemany(sql, rows_batch)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"rows": rows, "load_s": round(time.perf_counter() - started, 1)}


def _explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _rows_shown(html: str) -> int:
    body = html.split('id="result_list"', 1)[-1].split("<tbody>", 1)[-1].split("</tbody>", 1)[0]
    return body.count("<tr")


def time_pages(pages: list[tuple[str, str]]) -> list[dict]:
    """Return, per admin page, the median ms of TIMED_REQUESTS loads and its SQL."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USER).first()
    if user is None:
        user = user_model.objects.create_superuser(ADMIN_USER, "bench@example.com", None)
    client = Client()
    client.force_login(user)
    results = []
    for name, url in pages:
        response = client.get(url)  # warm: templates, translations, the database's cache
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        # Read now: the next request empties the log the context reads from.
        queries = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
        shown = _rows_shown(response.content.decode("utf-8"))
        samples = []
        for _ in range(TIMED_REQUESTS):
            started = time.perf_counter()
            client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
        row = {
            "page": name,
            "url": url,
            "ms": round(statistics.median(samples), 1),
            "ms_min": round(min(samples), 1),
            "ms_max": round(max(samples), 1),
            "rows_shown": shown,
            "queries": len(queries),
            "slowest_sql": queries[0]["sql"] if queries else "",
            "slowest_sql_ms": round(float(queries[0]["time"]) * 1000, 1) if queries else 0,
        }
        if connection.vendor == "postgresql" and queries:
            row["explain"] = _explain(queries[0]["sql"])
        results.append(row)
    return results


def admin_pages() -> list[tuple[str, str]]:
    base = "/" + os.environ.get("DJANGO_ADMIN_URL", "admin/").strip("/") + "/replies/message/"
    openid = Message.objects.order_by().values_list("openid", flat=True).first() or "o"
    return [
        ("list", base),
        ("filter ?msg_type__exact=text", f"{base}?msg_type__exact=text"),
        ("filter ?event__exact=click", f"{base}?event__exact=click"),
        (f"search ?q={COMMON_WORD} (1% of texts)", f"{base}?q={COMMON_WORD}"),
        ("search ?q=text in one row", f"{base}?q={RARE_TEXT.replace(' ', '+')}"),
        ("search ?q=an OpenID", f"{base}?q={openid}"),
    ]


def ensure_rules(count: int = 50) -> None:
    """Give the log's rows some rules to point at (the admin links each answered row to one)."""
    if ReplyRule.objects.exists():
        return
    ReplyRule.objects.bulk_create(ReplyRule(name=f"rule {n}") for n in range(count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["rebuild", "admin"])
    parser.add_argument("--rows", type=int, default=1_000_000, help="admin: rows in the log")
    parser.add_argument("--keywords", type=int, default=100_000, help="rebuild: rule set size")
    parser.add_argument("--reload", action="store_true", help="admin: reload the log anyway")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    call_command("migrate", verbosity=0, interactive=False)
    result = {"vendor": connection.vendor, "part": args.part}
    if args.part == "rebuild":
        result["rules"] = load_rules(args.keywords)
        result["rebuild"] = time_rebuild()
    else:
        ensure_rules()
        if args.reload or Message.objects.count() != args.rows:
            result["load"] = load_messages(args.rows)
        else:
            result["load"] = {"rows": args.rows, "load_s": None, "reused": True}
        result["pages"] = time_pages(admin_pages())
    text = json.dumps(result, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
