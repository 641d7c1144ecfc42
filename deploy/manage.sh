#!/bin/sh
# Run manage.py in production as the services run it: as the wxsite user, in the checkout this
# script belongs to, with the settings of /etc/wxsite/wxsite.env. Run it as root:
#
#   sudo /srv/wxsite/app/deploy/manage.sh migrate
#   sudo /srv/wxsite/app/deploy/manage.sh createsuperuser
#   sudo /srv/wxsite/app/deploy/manage.sh purge_messages --older-than 180d --dry-run
#
# WXSITE_USER and WXSITE_ENV_FILE choose another user or settings file (deploy/test_deploy.sh
# does). The settings file wins over variables of the calling shell with the same name.
set -eu
app=$(cd "$(dirname "$0")/.." && pwd)
user=${WXSITE_USER:-wxsite}
env_file=${WXSITE_ENV_FILE:-/etc/wxsite/wxsite.env}
if [ "$(id -u)" -ne 0 ]; then
    echo "deploy/manage.sh: run it as root (sudo), it switches to the $user user" >&2
    exit 1
fi
[ -r "$env_file" ] || {
    echo "deploy/manage.sh: no settings file $env_file (deploy/README.md, step 6)" >&2
    exit 1
}
# shellcheck disable=SC2016 # expanded by the inner shell
exec runuser -u "$user" -- sh -c 'set -a; . "$1"; set +a; cd "$2"; shift 2
exec .venv/bin/python manage.py "$@"' manage.sh "$env_file" "$app" "$@"
