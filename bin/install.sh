#!/usr/bin/env bash
# Install a lock into .venv: `bin/install.sh requirements.lock` (serve.sh, production) or
# `bin/install.sh requirements-dev.lock` (test.sh, CI). Makes .venv when it is missing, and runs
# `pip install --require-hashes` (exactly the locked files, nothing else) only when the lock
# changed since it was last installed there: .venv/.installed-<lock> keeps the lock's sha256.
#
# When something is in the way it says so in one line and exits 1: a Python older than 3.11, a
# lock older than its requirements (run bin/lock.sh), a Python whose venv comes without pip
# (Debian and Ubuntu without python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:?usage: bin/install.sh requirements.lock|requirements-dev.lock}"
me="${WXSITE_SCRIPT:-bin/install.sh}" # serve.sh and test.sh lend their names to the messages

fail() {
    echo "$me: $*" >&2
    exit 1
}

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    fail "wxsite needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1 || echo none))"
bin/lock.sh --check "$lock" 2>&1 | sed "s|^|$me: |" >&2 || exit 1

no_pip="Python's venv has no pip here: apt install python3-venv"
if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv >/dev/null 2>&1 || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        rm -rf .venv # half made by us just now (Debian leaves one without pip): nothing to keep
        fail "$no_pip, then run again"
    fi
elif ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    .venv/bin/python -m ensurepip --default-pip >/dev/null 2>&1 ||
        fail "$no_pip, then rm -rf .venv and run again"
fi

stamp=".venv/.installed-$(basename "$lock")"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "$me: installing $lock into .venv"
rm -f "$stamp"
PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/python -m pip install --quiet --require-hashes -r "$lock"
echo "$want" >"$stamp"
