#!/usr/bin/env bash
# Print deploy/nginx/wxsite.conf with its ${WXSITE_*} and ${WECHAT_MAX_BODY_BYTES} names replaced
# by values from the environment (defaults in the file's header); nginx's own $variables are left
# alone. Fails, printing nothing, when WXSITE_SERVER_NAME is unset or a value could break the file.
#
#   sudo env WXSITE_SERVER_NAME=wx.example.com deploy/nginx/render.sh \
#       > /etc/nginx/sites-available/wxsite.conf
#
# deploy/test_deploy.sh renders the same file with test ports and paths, then runs nginx on it.
set -euo pipefail
template="$(dirname "$0")/wxsite.conf"

: "${WXSITE_SERVER_NAME:?deploy/nginx/render.sh: set WXSITE_SERVER_NAME, e.g. wx.example.com}"
: "${WXSITE_HTTP_PORT:=80}"
: "${WXSITE_HTTPS_PORT:=443}"
: "${WXSITE_TLS_CERTIFICATE:=/etc/letsencrypt/live/$WXSITE_SERVER_NAME/fullchain.pem}"
: "${WXSITE_TLS_CERTIFICATE_KEY:=/etc/letsencrypt/live/$WXSITE_SERVER_NAME/privkey.pem}"
: "${WXSITE_ACME_ROOT:=/var/www/letsencrypt}"
: "${WXSITE_STATIC_ROOT:=/srv/wxsite/app/staticfiles}"
: "${WXSITE_ENDPOINT_UPSTREAM:=127.0.0.1:8001}"
: "${WXSITE_ADMIN_UPSTREAM:=127.0.0.1:8002}"
: "${WXSITE_LOG_DIR:=/var/log/nginx}"
: "${WECHAT_MAX_BODY_BYTES:=1048576}"

names=(WXSITE_SERVER_NAME WXSITE_HTTP_PORT WXSITE_HTTPS_PORT WXSITE_TLS_CERTIFICATE
    WXSITE_TLS_CERTIFICATE_KEY WXSITE_ACME_ROOT WXSITE_STATIC_ROOT WXSITE_ENDPOINT_UPSTREAM
    WXSITE_ADMIN_UPSTREAM WXSITE_LOG_DIR WECHAT_MAX_BODY_BYTES)

shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: & in a value stays &
config=$(<"$template")
for name in "${names[@]}"; do
    value=${!name}
    # One nginx word each: a space, quote, ; { } or $ would change the meaning of the file.
    if [[ -z $value || $value =~ [[:space:]\;\{\}\"\'\$\#] ]]; then
        echo "deploy/nginx/render.sh: $name=${value@Q} is not a plain value" >&2
        exit 1
    fi
    config=${config//"\${$name}"/$value}
done
if left=$(grep -o -E '\$\{[A-Z0-9_]+\}' <<<"$config" | sort -u | xargs) && [ -n "$left" ]; then
    echo "deploy/nginx/render.sh: no value for $left" >&2
    exit 1
fi
printf '%s\n' "$config"
