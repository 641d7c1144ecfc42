#!/usr/bin/env bash
# Serve wxsite: install requirements.lock into .venv (only when it changed), migrate the database
# (SQLite by default), collect the static files, then run gunicorn with gunicorn.conf.py.
#
# Usage: ./serve.sh [HOST:PORT]          gunicorn, as in production (WXSITE_POOL=all: one pool
#                                        for /wechat/, /healthz and the admin)
#        ./serve.sh --dev [HOST:PORT]    Django's runserver instead, reloading on every code change
#
# HOST:PORT is where to listen, 127.0.0.1:8000 by default (this machine only). 0.0.0.0:8000
# listens on every IPv4 address, [::]:8000 on every IPv6 one, [::1]:8000 on IPv6 loopback;
# a port alone (8080) means 127.0.0.1:8080. A port already in use is reported before anything
# is installed.
#
# Settings come from the environment (README.md, "Settings"); gunicorn's workers and timeouts
# from GUNICORN_* (gunicorn.conf.py). Production runs two pools behind nginx: deploy/README.md.
#
# Next to the server runs the task worker (`manage.py db_worker`, django-tasks-db), which sends
# "reply all" follow-ups through WeChat's customer-service API and counts the insight pages' large
# custom periods; it stops when the server stops.
set -euo pipefail
cd "$(dirname "$0")"
export WXSITE_SCRIPT=serve.sh

usage() {
    echo "usage: ./serve.sh [--dev] [HOST:PORT]   (default 127.0.0.1:8000)" >&2
    exit 2
}
dev=false
if [ "${1:-}" = "--dev" ]; then
    dev=true
    shift
fi
[ $# -le 1 ] || usage
case "${1:-}" in -*) usage ;; esac
address="${1:-127.0.0.1:8000}"
[[ $address == *:* ]] || address="127.0.0.1:$address" # a port alone

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || {
    echo "serve.sh: wxsite needs Python 3.11 or newer as python3" >&2
    exit 1
}

# Before installing anything: is the address free? (bind as the server will, SO_REUSEADDR on)
python3 - "$address" <<'EOF' || exit 1
import errno, socket, sys

address = sys.argv[1]
host, _, port = address.rpartition(":")
host = host.strip("[]")
try:
    port = int(port)
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
except (ValueError, socket.gaierror) as error:
    sys.exit(f"serve.sh: cannot listen on {address!r} ({error}): give HOST:PORT, e.g. 127.0.0.1:8000")
with socket.socket(family, kind, proto) as sock:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(sockaddr)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            sys.exit(f"serve.sh: port {port} is already in use on {host}: stop what listens there "
                     f"or pick another port, e.g. ./serve.sh {host}:{port + 1}")
        sys.exit(f"serve.sh: cannot listen on {address}: {error.strerror}")
EOF

bin/install.sh requirements.lock
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput --verbosity 0

# The outbox worker, started first and stopped with the server whichever way it ends.
.venv/bin/python manage.py recover_outbox
.venv/bin/python manage.py db_worker --no-reload --no-startup-delay &
worker=$!
server=
stop() {
    trap - INT TERM EXIT
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
    kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
    exit "${1:-0}"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop $?' EXIT

if $dev; then
    echo "serve.sh: runserver on http://$address/ and the task worker (outbox, insight counts); Ctrl-C stops both"
    .venv/bin/python manage.py runserver "$address" &
else
    echo "serve.sh: gunicorn on http://$address/ (/wechat/, /healthz, /admin/) and the task worker (outbox, insight counts); Ctrl-C stops both"
    .venv/bin/gunicorn --config gunicorn.conf.py --bind "$address" wxsite.wsgi &
fi
server=$!
status=0
wait "$server" || status=$?
server=
stop "$status"
