#!/usr/bin/env bash
# Deploy test: run the shipped deployment on this machine and talk to it as WeChat, a browser and a
# load balancer would. The nginx site (deploy/nginx/wxsite.conf, rendered by render.sh with test
# ports and paths), the two gunicorn pools started with the very ExecStart= and Environment= of
# deploy/systemd/*.service (code path swapped for this checkout), the settings of
# deploy/wxsite.env.example with test secrets, PostgreSQL and Redis. Then, through nginx:
# a signed WeChat message over https and over plain http (answered, never redirected), /healthz,
# the rest of http redirected, static files from nginx, the 1 MiB body limit, an admin login;
# and which pool answered what.
#
# Usage: deploy/test_deploy.sh     (as root: installs nginx-light, openssl and curl with apt when
#                                  missing; .ci/run calls it after the PostgreSQL tests)
# Needs PostgreSQL (WXSITE_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432) and Redis on
# 127.0.0.1:6379. Starts nginx with its own prefix, config and pid file in a temporary directory;
# the system's nginx configuration is never read or touched. Everything it starts is stopped and
# its database and cache keys dropped at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$SECONDS
POSTGRES="${WXSITE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
HOST=wx.example.com
say() { echo "deploy test: $*"; }
ok() { echo "deploy test: ok: $*"; }
fail() {
    echo "deploy test: FAILED: $*" >&2
    exit 1
}

# --- tools -------------------------------------------------------------------------------------
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || fail "run as root to install ${missing[*]} (or install them)"
    say "installing ${missing[*]} with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    packages=("${missing[@]}")
    if [[ " ${missing[*]} " == *" nginx "* ]] && apt-cache show nginx-light >/dev/null 2>&1; then
        packages=("${packages[@]/#nginx/nginx-light}") # the smallest build with ssl, http2, gzip_static
    fi
    # Keep apt from starting the system's nginx on port 80: invoke-rc.d asks policy-rc.d first.
    made_policy=false
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=true
    fi
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null || install_failed=1
    if $made_policy; then rm -f /usr/sbin/policy-rc.d; fi
    [ -z "${install_failed:-}" ] || fail "apt-get install ${packages[*]} failed"
fi
say "$(nginx -v 2>&1), $(openssl version | cut -d' ' -f1-2), $(curl --version | head -1 | cut -d' ' -f1-2)"

bin/install.sh requirements.lock
PY="$ROOT/.venv/bin/python"

# --- a scratch directory, ports, a database; all gone at the end -------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wxsite-deploy.XXXXXX")
chmod 755 "$WORK" # nginx's workers read and write under it
mkdir -p "$WORK/nginx" "$WORK/log" "$WORK/tls" "$WORK/acme" "$WORK/spool" "$WORK/http"
DATABASE="wxsite_deploy_test_$$"
pids=()
nginx_pid=""

sql() { # run one statement on the server's postgres database, outside a transaction
    "$PY" -c 'import sys, psycopg
with psycopg.connect(sys.argv[1] + "/postgres", autocommit=True) as c: c.execute(sys.argv[2])' \
        "$POSTGRES" "$1"
}

cleanup() {
    local status=$?
    set +e
    if [ -n "$nginx_pid" ]; then kill -QUIT "$nginx_pid" 2>/dev/null; fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}" $nginx_pid; do
        timeout 20 tail --pid="$pid" -f /dev/null 2>/dev/null # its own children are waited for too
        kill -KILL "$pid" 2>/dev/null
    done
    if [ $status -ne 0 ]; then
        for log in "$WORK"/log/*.log; do
            [ -s "$log" ] && { echo "--- ${log#"$WORK"/} (last lines)"; tail -n 25 "$log"; } >&2
        done
    fi
    sql "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1
    if [ -n "${CACHE_KEY_PREFIX:-}" ]; then # this run's keys only: the Redis is shared
        "$PY" -c 'import os, redis
r = redis.Redis.from_url(os.environ["CACHE_URL"])
for key in r.scan_iter(match=os.environ["CACHE_KEY_PREFIX"] + ":*"): r.delete(key)' 2>/dev/null
    fi
    rm -rf "$WORK"
    if [ $status -eq 0 ]; then
        say "passed in $((SECONDS - START)) s; nginx, both pools and the database are gone"
    else
        say "failed after $((SECONDS - START)) s; nginx, both pools and the database are gone"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r HTTP_PORT HTTPS_PORT ENDPOINT_PORT ADMIN_PORT FAKE_API_PORT < <("$PY" -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
sql "CREATE DATABASE $DATABASE" || fail "cannot create a database at $POSTGRES"

# --- the settings: the shipped example, then this test's secrets, database and ports ------------
# Later lines win, in systemd's EnvironmentFile= as in sh.
{
    cat deploy/wxsite.env.example
    echo
    echo "# deploy/test_deploy.sh"
    echo "DJANGO_SECRET_KEY=deploy-test-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')"
    echo "DJANGO_ALLOWED_HOSTS=$HOST"
    echo "DJANGO_CSRF_TRUSTED_ORIGINS=https://$HOST:$HTTPS_PORT" # a test port is not 443
    echo "DJANGO_ADMIN_REQUIRE_2FA=off" # the login below has no authenticator app
    echo "DATABASE_URL=$POSTGRES/$DATABASE"
    echo "CACHE_KEY_PREFIX=wxsite-deploy-test-$$" # this run's own keys in the shared Redis
    echo "WECHAT_TOKEN=deploy-token-$$"
    echo "WECHAT_APP_ID=wx2c2769f8efd9abc2"
    echo "WECHAT_ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    echo "WECHAT_SPOOL_DIR=$WORK/spool"
    echo "WECHAT_APP_SECRET=deploy-secret-$$"
    echo "WECHAT_API_BASE=http://127.0.0.1:$FAKE_API_PORT" # the project's fake of WeChat's API
    echo "GUNICORN_ENDPOINT_BIND=127.0.0.1:$ENDPOINT_PORT"
    echo "GUNICORN_ENDPOINT_WORKERS=2"
    echo "GUNICORN_ADMIN_BIND=127.0.0.1:$ADMIN_PORT"
    echo "GUNICORN_ADMIN_WORKERS=1"
} >"$WORK/wxsite.env"
chmod 644 "$WORK/wxsite.env"
set -a
# shellcheck disable=SC1091 # made above
. "$WORK/wxsite.env" # what EnvironmentFile= gives the units
set +a
export DJANGO_SUPERUSER_USERNAME=deploy-admin DJANGO_SUPERUSER_EMAIL=admin@example.com
DJANGO_SUPERUSER_PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
export DJANGO_SUPERUSER_PASSWORD
"$PY" -c 'import os, redis; redis.Redis.from_url(os.environ["CACHE_URL"]).ping()' ||
    fail "no Redis at $CACHE_URL"

manage() { # as deploy/README.md says to run commands: deploy/manage.sh (as root)
    if [ "$(id -u)" -eq 0 ]; then
        WXSITE_USER=root WXSITE_ENV_FILE="$WORK/wxsite.env" deploy/manage.sh "$@"
    else
        "$PY" manage.py "$@"
    fi
}
say "database $DATABASE: migrate, collectstatic, createsuperuser, load_demo_rules (deploy/manage.sh)"
manage migrate --noinput --verbosity 0
manage collectstatic --noinput --verbosity 0
manage createsuperuser --noinput --verbosity 0
manage load_demo_rules --verbosity 0 >/dev/null
manage check --deploy --fail-level ERROR >"$WORK/log/check.log" 2>&1 ||
    fail "manage.py check --deploy with the example's settings: $(cat "$WORK/log/check.log")"
ok "manage.py check --deploy passes with deploy/wxsite.env.example's settings"

# --- the two gunicorn pools, as their systemd units start them ---------------------------------
unit_value() { sed -n "s/^$2=//p" "deploy/systemd/$1"; }
for pool in endpoint admin; do
    unit="wxsite-$pool.service"
    read -r -a command <<<"$(unit_value "$unit" ExecStart | sed "s#/srv/wxsite/app#$ROOT#g")"
    mapfile -t environment < <(unit_value "$unit" Environment)
    workdir=$(unit_value "$unit" WorkingDirectory | sed "s#/srv/wxsite/app#$ROOT#g")
    (cd "$workdir" && exec env "${environment[@]}" "${command[@]}") >"$WORK/log/$pool.log" 2>&1 &
    pids+=($!)
done

# --- the outbox worker, as wxsite-worker.service starts it (recover, then db_worker) ------------
# WeChat's API is the project's fake here (no machine in CI reaches WeChat); the follower has
# just written, so the 48-hour customer-service window is open.
"$PY" manage.py fake_wechat_api "127.0.0.1:$FAKE_API_PORT" --app-id "$WECHAT_APP_ID" \
    --app-secret "$WECHAT_APP_SECRET" --follower o_deploy_test >"$WORK/log/fake-api.log" 2>&1 &
pids+=($!)
read -r -a recover <<<"$(unit_value wxsite-worker.service ExecStartPre | sed "s#/srv/wxsite/app#$ROOT#g")"
"${recover[@]}" >"$WORK/log/recover.log" 2>&1 ||
    fail "wxsite-worker.service's ExecStartPre: $(cat "$WORK/log/recover.log")"
read -r -a worker <<<"$(unit_value wxsite-worker.service ExecStart | sed "s#/srv/wxsite/app#$ROOT#g")"
(cd "$ROOT" && exec "${worker[@]}") >"$WORK/log/worker.log" 2>&1 &
pids+=($!)

# --- nginx on the shipped site, in its own prefix ----------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
WXSITE_SERVER_NAME=$HOST WXSITE_HTTP_PORT=$HTTP_PORT WXSITE_HTTPS_PORT=$HTTPS_PORT \
    WXSITE_TLS_CERTIFICATE="$WORK/tls/cert.pem" WXSITE_TLS_CERTIFICATE_KEY="$WORK/tls/key.pem" \
    WXSITE_ACME_ROOT="$WORK/acme" WXSITE_STATIC_ROOT="$ROOT/staticfiles" WXSITE_LOG_DIR="$WORK/log" \
    WXSITE_ENDPOINT_UPSTREAM="127.0.0.1:$ENDPOINT_PORT" WXSITE_ADMIN_UPSTREAM="127.0.0.1:$ADMIN_PORT" \
    deploy/nginx/render.sh >"$WORK/nginx/wxsite.conf"
user_line=""
[ "$(id -u)" -ne 0 ] || user_line="user $(id -un);" # workers as this user: they read this checkout
cat >"$WORK/nginx/nginx.conf" <<EOF
# The main context Debian's /etc/nginx/nginx.conf would give, in this test's own directory.
$user_line
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/log/nginx.error.log;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path $WORK/http/body;
    proxy_temp_path $WORK/http/proxy;
    fastcgi_temp_path $WORK/http/fastcgi;
    uwsgi_temp_path $WORK/http/uwsgi;
    scgi_temp_path $WORK/http/scgi;
    include $WORK/nginx/wxsite.conf;
}
EOF
nginx_args=(-p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/log/nginx.error.log")
nginx -t -q "${nginx_args[@]}" 2>"$WORK/log/nginx-t.log" ||
    fail "nginx -t on the rendered deploy/nginx/wxsite.conf: $(cat "$WORK/log/nginx-t.log")"
ok "nginx -t accepts the rendered deploy/nginx/wxsite.conf"
nginx "${nginx_args[@]}" -g "daemon off;" &
nginx_pid=$!

# --- talking to it -----------------------------------------------------------------------------
HTTPS="https://$HOST:$HTTPS_PORT"
HTTP="http://$HOST:$HTTP_PORT"
CURL=(curl -sS -k --max-time 10 --resolve "$HOST:$HTTPS_PORT:127.0.0.1"
    --resolve "$HOST:$HTTP_PORT:127.0.0.1")

# Wait for nginx and both pools (gunicorn replays the spool, then forks its workers).
for _ in $(seq 100); do
    if [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$HTTPS/healthz" 2>/dev/null)" = 200 ] &&
        [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$HTTPS/admin/login/" 2>/dev/null)" = 200 ]; then
        break
    fi
    for pid in "${pids[@]}" "$nginx_pid"; do
        kill -0 "$pid" 2>/dev/null || fail "a server stopped while starting (logs below)"
    done
    sleep 0.2
done
say "nginx on :$HTTP_PORT and :$HTTPS_PORT, endpoint pool on :$ENDPOINT_PORT, admin pool on :$ADMIN_PORT"

# status URL [curl options…]: print the HTTP status, the body goes to $WORK/body.
status() {
    local url=$1
    shift
    "${CURL[@]}" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" "$url"
}
expect() { # expect WHAT WANT GOT
    [ "$3" = "$2" ] || fail "$1: expected $2, got $3 $(head -c 300 "$WORK/body" 2>/dev/null)"
}

# A text message as WeChat sends it in plaintext mode, signed sha1(sorted(token, timestamp, nonce)).
wechat_post() { # wechat_post BASE_URL TEXT: POST to BASE_URL/wechat/, print the status
    local query
    query=$("$PY" - "$WECHAT_TOKEN" "$2" "$WORK/message.xml" <<'EOF'
import hashlib, secrets, sys, time
token, text, path = sys.argv[1:]
timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
xml = (
    "<xml><ToUserName><![CDATA[gh_deploytest]]></ToUserName>"
    "<FromUserName><![CDATA[o_deploy_test]]></FromUserName>"
    f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    f"<Content><![CDATA[{text}]]></Content><MsgId>{secrets.randbelow(10**18)}</MsgId></xml>"
)
open(path, "w", encoding="utf-8").write(xml)
print(f"signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=o_deploy_test")
EOF
    )
    status "$1/wechat/?$query" -H "Content-Type: text/xml" --data-binary "@$WORK/message.xml"
}
expect_price_reply() {
    grep -q "<ToUserName><!\[CDATA\[o_deploy_test\]\]></ToUserName>" "$WORK/body" &&
        grep -q "基础版 99 元/年" "$WORK/body" ||
        fail "$1: not the 价格 rule's reply: $(head -c 300 "$WORK/body")"
}

expect "GET https /healthz" 200 "$(status "$HTTPS/healthz")"
grep -q '"status": "ok"' "$WORK/body" || fail "/healthz: $(cat "$WORK/body")"
ok "GET $HTTPS/healthz: 200 {\"status\": \"ok\"}"

expect "GET http /healthz" 200 "$(status "$HTTP/healthz")"
ok "GET $HTTP/healthz: 200, not redirected"

expect "signed POST https /wechat/" 200 "$(wechat_post "$HTTPS" 价格)"
expect_price_reply "https /wechat/"
ok "signed message POST $HTTPS/wechat/: 200, the 价格 rule's reply XML"

expect "signed POST http /wechat/" 200 "$(wechat_post "$HTTP" 价格)"
expect_price_reply "http /wechat/"
ok "signed message POST $HTTP/wechat/: 200 and the reply, not redirected (WeChat's http:// URL)"

# Reply all: the first reply in the answer, the rest sent by the worker through message/custom/send.
cat >"$WORK/reply_all.json" <<'JSON'
{"format": "wxsite-rules", "version": 1, "rules": [{"name": "部署测试全部回复", "enabled": true,
 "priority": 5, "reply_mode": "all", "triggers": [{"kind": "keyword", "match": "exact",
 "value": "全部回复"}], "replies": [{"type": "text", "content": "第一条"},
 {"type": "text", "content": "第二条"}, {"type": "text", "content": "第三条"}]}]}
JSON
manage import_rules "$WORK/reply_all.json" >/dev/null || fail "import_rules of a reply-all rule"
sleep "$("$PY" -c 'import os; print(float(os.environ.get("WECHAT_RULES_MAX_STALENESS") or 1) + 0.2)')" # an edit reaches every worker within it
expect "signed POST, reply-all rule" 200 "$(wechat_post "$HTTPS" 全部回复)"
grep -q "第一条" "$WORK/body" || fail "reply all: the first reply not in the answer: $(head -c 300 "$WORK/body")"
custom_sends_are() { # custom_sends_are TEXT…: the fake recorded exactly these custom texts, in order
    "${CURL[@]}" -o "$WORK/calls.json" "http://127.0.0.1:$FAKE_API_PORT/_fake/calls" 2>/dev/null || return 1
    "$PY" - "$WORK/calls.json" "$@" <<'PY'
import json, sys
calls = json.load(open(sys.argv[1], encoding="utf-8"))["calls"]
sent = [c["body"]["text"]["content"] for c in calls if c["path"].endswith("/message/custom/send")]
sys.exit(0 if sent == sys.argv[2:] else 1)
PY
}
for _ in $(seq 150); do
    custom_sends_are 第二条 第三条 && break
    sleep 0.2
done
custom_sends_are 第二条 第三条 ||
    fail "reply all: the worker did not send the rest in order: $(cat "$WORK/calls.json"; tail -5 "$WORK/log/worker.log")"
ok "reply-all rule: the first reply passively, the other two sent in order by wxsite-worker.service's db_worker"

expect "unsigned POST /wechat/" 403 "$(status "$HTTPS/wechat/?signature=0&timestamp=1&nonce=2" \
    -H "Content-Type: text/xml" --data-binary "@$WORK/message.xml")"
ok "POST with a wrong signature: 403"

head -c $((WECHAT_MAX_BODY_BYTES + 1)) /dev/zero >"$WORK/big.bin"
expect "POST over the body limit" 413 "$(status "$HTTPS/wechat/?signature=0&timestamp=1&nonce=2" \
    -H "Content-Type: text/xml" --data-binary "@$WORK/big.bin")"
ok "POST of WECHAT_MAX_BODY_BYTES + 1 bytes: 413 from nginx"

expect "GET http /admin/" 301 "$(status "$HTTP/admin/")"
grep -qi "^location: https://$HOST/admin/" "$WORK/headers" || fail "http /admin/ redirect: $(cat "$WORK/headers")"
ok "GET $HTTP/admin/: 301 to https"

expect "GET /static/ (admin CSS)" 200 "$(status "$HTTPS/static/admin/css/base.css")"
grep -qi "^content-type: text/css" "$WORK/headers" || fail "static file type: $(cat "$WORK/headers")"
ok "GET $HTTPS/static/admin/css/base.css: 200 text/css, from nginx"

# The admin: the login page, its CSRF token, the password, then the index with the session.
jar=(-c "$WORK/cookies" -b "$WORK/cookies")
expect "GET /admin/login/" 200 "$(status "$HTTPS/admin/login/?next=/admin/" "${jar[@]}")"
grep -qi "^strict-transport-security: max-age=" "$WORK/headers" ||
    fail "no HSTS on the admin: Django did not see https (X-Forwarded-Proto)"
token=$(grep -o 'name="csrfmiddlewaretoken" value="[^"]*"' "$WORK/body" | head -1 | cut -d'"' -f4)
[ -n "$token" ] || fail "no CSRF token on the login page"
expect "POST /admin/login/" 302 "$(status "$HTTPS/admin/login/?next=/admin/" "${jar[@]}" \
    -H "Referer: $HTTPS/admin/login/?next=/admin/" -H "Origin: $HTTPS" \
    --data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode "next=/admin/" \
    --data-urlencode "username=$DJANGO_SUPERUSER_USERNAME" \
    --data-urlencode "password=$DJANGO_SUPERUSER_PASSWORD")"
grep -qiE "^location: (https://$HOST(:$HTTPS_PORT)?)?/admin/\s*$" "$WORK/headers" ||
    fail "login redirected elsewhere: $(grep -i '^location' "$WORK/headers")"
expect "GET /admin/ logged in" 200 "$(status "$HTTPS/admin/" "${jar[@]}")"
grep -q "$DJANGO_SUPERUSER_USERNAME" "$WORK/body" || fail "the admin index does not show the user"
ok "admin login over https: login page, 302 to /admin/, then the index (200) with the session"

# Which pool answered what: the gunicorn access logs (one line per request).
grep -q '"POST /wechat/' "$WORK/log/endpoint.log" || fail "/wechat/ did not reach the endpoint pool"
grep -q '"POST /admin/login/' "$WORK/log/admin.log" || fail "the admin did not reach the admin pool"
! grep -q '"GET /admin/\|"POST /admin/' "$WORK/log/endpoint.log" || fail "the admin reached the endpoint pool"
! grep -q '"POST /wechat/' "$WORK/log/admin.log" || fail "/wechat/ reached the admin pool"
! grep -q '/static/' "$WORK/log/admin.log" || fail "a static file reached gunicorn"
ok "/wechat/ and /healthz went to the endpoint pool, the admin to the admin pool, /static/ to none"

# A load balancer checks the endpoint pool by its address; host validation stays for the rest.
expect "GET /healthz with Host: an IP" 200 "$("${CURL[@]}" -o "$WORK/body" -w '%{http_code}' \
    -H "Host: 10.0.0.5:$ENDPOINT_PORT" "http://127.0.0.1:$ENDPOINT_PORT/healthz")"
expect "GET /wechat/ with Host: an IP" 400 "$("${CURL[@]}" -o "$WORK/body" -w '%{http_code}' \
    -H "Host: 10.0.0.5:$ENDPOINT_PORT" "http://127.0.0.1:$ENDPOINT_PORT/wechat/")"
ok "GET /healthz by IP at the endpoint pool: 200; any other path by IP: 400"

# The purge, with the ExecStart= of wxsite-purge.service and the example's retention.
read -r -a purge <<<"$(unit_value wxsite-purge.service ExecStart | sed "s#/srv/wxsite/app#$ROOT#g")"
purge=("${purge[@]//\$\{WXSITE_PURGE_OLDER_THAN\}/$WXSITE_PURGE_OLDER_THAN}")
purge=("${purge[@]//\$\{WXSITE_PURGE_BATCH_SIZE\}/$WXSITE_PURGE_BATCH_SIZE}")
"${purge[@]}" >"$WORK/body" 2>/dev/null || fail "wxsite-purge.service's command: $(cat "$WORK/body")"
grep -q "^Deleted 0 messages" "$WORK/body" || fail "purge: $(cat "$WORK/body")"
ok "wxsite-purge.service's command: $(cat "$WORK/body")"
