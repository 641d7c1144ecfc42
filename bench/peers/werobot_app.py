"""WeRoBot, as its documentation sets it up: `gunicorn bench.peers.werobot_app:app`.

Its default session storage (SQLiteStorage) stays on, as a WeRoBot user gets it: every message
reads and writes the follower's session in an SQLite file. The file goes to bench/.work/ rather
than the working directory.
"""

import os
from pathlib import Path

import werobot
from werobot.session.sqlitestorage import SQLiteStorage

WORK_DIR = Path(__file__).resolve().parent.parent / ".work"
WORK_DIR.mkdir(exist_ok=True)

robot = werobot.WeRoBot(
    token=os.environ["BENCH_TOKEN"],
    session_storage=SQLiteStorage(filename=str(WORK_DIR / "werobot_session.sqlite3")),
)


@robot.text
def answer_text(message):
    """Answer any text message with a text reply."""
    return os.environ.get("BENCH_REPLY", "reply")


app = robot.wsgi
