#!/usr/bin/env bash
# Install requirements-dev.lock into .venv (only when it changed) and run the whole suite; extra
# arguments go to pytest (./test.sh -k endpoint -x).
# SQLite by default; DATABASE_URL=postgres://postgres@127.0.0.1:5432/test ./test.sh for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"
WXSITE_SCRIPT=test.sh bin/install.sh requirements-dev.lock
exec .venv/bin/python -m pytest "$@"
