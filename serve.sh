#!/usr/bin/env bash
# Install everything into .venv and serve wxsite at http://127.0.0.1:8000 (SQLite by default).
# Usage: ./serve.sh [host:port]      Settings come from the environment (README.md).
set -euo pipefail
cd "$(dirname "$0")"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "wxsite needs Python 3.11+" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput --verbosity 0
exec .venv/bin/python manage.py runserver "${1:-127.0.0.1:8000}"
