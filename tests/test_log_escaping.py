"""Log lines: a follower's control characters cannot forge a line, and times are UTC.

The end-to-end tests start a fresh interpreter with the real settings (django.setup() applies
settings.LOGGING exactly as gunicorn's workers do) and read what it writes to stderr.
"""

import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings

from wxsite.logging import LineFormatter, escape_controls

ROOT = Path(__file__).resolve().parent.parent
FORGED = "subscribe\n2026-01-01 00:00:00 INFO replies.endpoint wechat ok"
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def run_fresh_process(code: str, *, tz: str = "America/New_York") -> tuple[str, list[str]]:
    """Run `code` after django.setup() with the real settings; return stdout and stderr lines."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTHON"))
    } | {"DJANGO_SETTINGS_MODULE": "wxsite.settings", "TZ": tz}
    done = subprocess.run(
        [sys.executable, "-c", "import django, json, logging\ndjango.setup()\n" + code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr.splitlines()


def log_in_fresh_process(code: str) -> list[str]:
    """Run `code` after django.setup() with the real settings; return what it logged."""
    return run_fresh_process(code)[1]


def test_a_newline_in_a_logged_value_does_not_start_a_forged_line():
    lines = log_in_fresh_process(
        f"logging.getLogger('replies.endpoint').warning('unknown event %s', {FORGED!r})"
    )
    assert len(lines) == 1, lines
    assert lines[0].endswith(
        "WARNING replies.endpoint unknown event "
        "subscribe\\n2026-01-01 00:00:00 INFO replies.endpoint wechat ok"
    )
    assert not any(line.startswith("2026-01-01 00:00:00") for line in lines)


def test_log_time_is_utc_iso_8601_whatever_the_machine_time_zone():
    code = (
        "import time\n"
        "print(json.dumps([time.time(), time.strftime('%z')]))\n"
        "logging.getLogger('replies.endpoint').warning('tick')\n"
    )
    for tz in ("America/New_York", "Asia/Shanghai"):
        stdout, lines = run_fresh_process(code, tz=tz)
        now, offset = json.loads(stdout)
        assert offset != "+0000", f"TZ={tz} was not in effect in the child"
        (line,) = lines
        stamp = line.split(" ", 1)[0]
        assert re.fullmatch(ISO_UTC, stamp), line
        logged = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        assert abs(logged - now) < 5, (stamp, now)


def test_a_traceback_keeps_its_lines_but_every_one_is_indented_and_escaped():
    # An exception message may hold a follower's newline too: it stays a line break (psycopg's
    # multi-line errors stay readable), but indented it cannot pass for a record of its own.
    lines = log_in_fresh_process(
        "try:\n"
        f"    raise ValueError({FORGED!r} + '\\u202e')\n"
        "except ValueError:\n"
        "    logging.getLogger('replies.rules').exception('rule %s failed', 'x\\ry')\n"
    )
    assert re.fullmatch(ISO_UTC + r" ERROR replies\.rules rule x\\ry failed", lines[0])
    continuation = lines[1:]
    assert continuation[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in continuation), lines
    assert continuation[-2:] == [
        "    ValueError: subscribe",
        "    2026-01-01 00:00:00 INFO replies.endpoint wechat ok\\u202e",
    ]
    assert not any(line.startswith("2026-01-01") for line in lines)


def test_django_own_loggers_go_through_the_same_formatter():
    lines = log_in_fresh_process(
        "logging.getLogger('django.server').warning('\"GET /%s HTTP/1.1\" 404', 'a\\nb')\n"
        "logging.getLogger('django.security.csrf').error('csrf %s', 'c\\rd')\n"
    )
    assert len(lines) == 2, lines
    assert lines[0].endswith('WARNING django.server "GET /a\\nb HTTP/1.1" 404')
    assert lines[1].endswith("ERROR django.security.csrf csrf c\\rd")


def test_every_configured_handler_uses_the_escaping_formatter():
    formatters = settings.LOGGING["formatters"]
    for name, handler in settings.LOGGING["handlers"].items():
        formatter = formatters[handler["formatter"]]
        assert formatter["()"] == "wxsite.logging.LineFormatter", name


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x00\x1b[31mred\x7f", "\\x00\\x1b[31mred\\x7f"),
        ("nel\x85c1\x9b", "nel\\x85c1\\x9b"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\u202aLRE\u202bRLE\u202cPDF\u202dLRO\u202eRLO", None),
        ("\u2066LRI\u2067RLI\u2068FSI\u2069PDI", None),
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),
        ("关注 subscribe ＨＥＬＬＯ é ü", "关注 subscribe ＨＥＬＬＯ é ü"),
    ],
)
def test_control_characters_are_escaped_and_text_is_kept(raw, escaped):
    result = escape_controls(raw)
    if escaped is not None:
        assert result == escaped
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", result)
    assert "\n" not in result


def test_formatter_escapes_args_extra_fields_and_the_logger_name():
    formatter = LineFormatter("%(asctime)s %(name)s %(message)s %(key)s")
    record = logging.LogRecord(
        "replies.x\ny", logging.INFO, __file__, 1, "key=%r event=%s", ("a\nb", "c\u2028d"), None
    )
    record.key = "EventKey\r\n"
    line = formatter.format(record)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    assert line.split(" ", 1)[1] == "replies.x\\ny key='a\\nb' event=c\\u2028d EventKey\\r\\n"
