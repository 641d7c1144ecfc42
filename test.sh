#!/usr/bin/env bash
# Install the test requirements into .venv and run the whole suite (extra arguments go to pytest).
# SQLite by default; DATABASE_URL=postgres://postgres@127.0.0.1:5432/test ./test.sh for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "wxsite needs Python 3.11+" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
