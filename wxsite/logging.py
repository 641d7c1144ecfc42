"""The one log-line format: control characters escaped, timestamps in UTC.

Followers choose much of what the endpoint logs (MsgType, Event, EventKey, a rule's keyword …).
A newline in such a value would start a second, forged line in the server log ("… INFO
replies.endpoint wechat ok"), and a bidi override would make a line read differently from what it
says. `LineFormatter` is the formatter of every handler in ``settings.LOGGING``, so no call site
has to remember to escape anything: it renders the record as usual and then replaces every C0 and
C1 control character (newline, carriage return, tab, escape, NEL …), the Unicode line and
paragraph separators and the bidi controls with a visible escape (``\\n``, ``\\x1b``,
``\\u202e``). A record is therefore exactly one physical line.

The traceback of a logged exception is ours (frames and source lines) and keeps its line breaks,
but every one of its lines is indented, and escaped like the rest: an exception message that
carries a follower's newline cannot produce a line that starts like a record (log collectors
treat indented lines as continuations).
"""

import logging
import re
from datetime import UTC, datetime

# C0 controls, DEL and C1 controls (NEL U+0085 included); LINE and PARAGRAPH SEPARATOR; the bidi
# embeddings, overrides and isolates (U+202A-202E, U+2066-2069) and the invisible direction marks
# (ALM U+061C, LRM U+200E, RLM U+200F) that reorder how a terminal or a log viewer shows a line.
CONTROL_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
TRACEBACK_INDENT = "    "


def _escape_one(match: re.Match) -> str:
    character = match.group()
    if character in _NAMED:
        return _NAMED[character]
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """Return `text` with every control character replaced by a visible escape."""
    return CONTROL_CHARACTERS.sub(_escape_one, text)


def indent_block(text: str) -> str:
    """Return a multi-line block (a traceback) escaped line by line, each line indented."""
    return "\n".join(TRACEBACK_INDENT + escape_controls(line) for line in text.split("\n"))


class LineFormatter(logging.Formatter):
    """Format a record as one escaped line, its time in UTC as ISO 8601 with a ``Z``.

    One time zone for every line, whatever the machine's TZ or DJANGO_TIME_ZONE: lines from
    several hosts (or from before and after a TZ change) sort and compare as they are, and
    ``2026-01-01T08:00:00.000Z`` cannot be misread as local time.
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        if datefmt:
            return moment.strftime(datefmt)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        # Escape the whole rendered line, not only the message: the logger name, `extra` fields
        # and anything a format string adds are covered too.
        line = escape_controls(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + indent_block(record.exc_text)
        if record.stack_info:
            line += "\n" + indent_block(self.formatStack(record.stack_info))
        return line
