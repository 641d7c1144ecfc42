#!/usr/bin/env bash
# Lock the dependencies, for installs that are the same everywhere:
#   requirements.lock      from requirements.txt: what serve.sh and production install
#   requirements-dev.lock  from requirements-dev.txt: the same plus the test tools (test.sh, CI)
# Every package at an exact version with the sha256 of each of its files, so that
# `pip install --require-hashes -r requirements.lock` installs exactly those files or nothing.
#
# Usage: bin/lock.sh             after editing requirements*.txt: re-resolve both locks, keeping
#                                the locked versions the requirements still allow
#        bin/lock.sh --upgrade   the newest versions the requirements allow (review the diff)
#        bin/lock.sh --check [LOCK…]   exit 1 with "run bin/lock.sh" when a lock is older than
#                                its requirements (CI, serve.sh and test.sh call this)
#
# The resolver is uv (version pinned below), installed in a throwaway venv that is removed at the
# end: it never lands in .venv. The locks are universal (`uv pip compile --universal`): a package
# for another platform or Python keeps its environment marker (atheris: Linux only; tzdata:
# Windows only), so one lock serves Debian 12's Python 3.11 and newer ones. The development lock
# is resolved with the runtime lock as constraints, so both pin every shared package alike.
# Each lock records the sha256 of its requirements (comments and blank lines left out) in its
# header; --check compares that with the requirements as they are now.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="${UV_VERSION:-0.13.9}"
PYTHON_VERSION=3.11 # the oldest Python wxsite runs on (Debian 12's)
LOCKS=(requirements.lock requirements-dev.lock)

# The requirements file a lock is made from.
source_of() { echo "${1%.lock}.txt"; }

# A requirements file and every file it includes with -r, each once.
inputs_of() {
    local file=$1 included
    echo "$file"
    while read -r included; do
        [ -n "$included" ] && inputs_of "$included"
    done < <(sed -n -E 's/^[[:space:]]*(-r|--requirement)[[:space:]=]*([^[:space:]#]+).*/\2/p' "$file")
}

# sha256 of a lock's requirements, comments and blank lines left out: what the header records.
requirements_hash() {
    local files
    mapfile -t files < <(inputs_of "$(source_of "$1")" | awk '!seen[$0]++')
    sed -E -e 's/[[:space:]]*#.*$//' -e 's/[[:space:]]+$//' -e '/^$/d' "${files[@]}" |
        sha256sum | cut -d' ' -f1
}

recorded_hash() { sed -n -E 's/^# requirements-sha256: ([0-9a-f]{64})$/\1/p' "$1" 2>/dev/null; }

# One line naming the locks that are missing or older than their requirements; status 1 if any.
check() {
    local lock missing=() stale=() sources=()
    for lock in "$@"; do
        if [ ! -f "$lock" ]; then
            missing+=("$lock")
        elif [ "$(recorded_hash "$lock")" != "$(requirements_hash "$lock")" ]; then
            stale+=("$lock")
            sources+=("$(source_of "$lock")")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "$(join "${missing[@]}") missing: run bin/lock.sh" >&2
        return 1
    elif [ ${#stale[@]} -gt 0 ]; then
        echo "$(join "${stale[@]}") older than $(join "${sources[@]}" | sed -E 's/ (is|are)$//'):" \
            "run bin/lock.sh" >&2
        return 1
    fi
}

# "a is" or "a and b are"
join() {
    if [ $# -eq 1 ]; then echo "$1 is"; else echo "${*:1:$#-1} and ${!#} are"; fi
}

if [ "${1:-}" = "--check" ]; then
    shift
    [ $# -gt 0 ] || set -- "${LOCKS[@]}"
    check "$@"
    exit
fi

upgrade=()
case "${1:-}" in
    "") ;;
    --upgrade) upgrade=(--upgrade) ;;
    *) echo "usage: bin/lock.sh [--upgrade | --check [LOCK…]]" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/wxsite-lock.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/tool" >/dev/null 2>&1 && [ -x "$work/tool/bin/pip" ] || {
    echo "bin/lock.sh: python3 cannot make a venv with pip: apt install python3-venv" >&2
    exit 1
}
echo "bin/lock.sh: installing uv $UV_VERSION in a throwaway venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$work/tool/bin/pip" install --quiet "uv==$UV_VERSION"

for lock in "${LOCKS[@]}"; do
    source=$(source_of "$lock")
    constraints=()
    [ "$lock" = requirements.lock ] || constraints=(--constraint requirements.lock)
    # uv keeps the versions already in the output file when they still fit (unless --upgrade).
    [ ! -f "$lock" ] || cp "$lock" "$work/$lock"
    "$work/tool/bin/uv" pip compile --quiet --universal --python-version "$PYTHON_VERSION" \
        --generate-hashes --no-header "${upgrade[@]}" "${constraints[@]}" \
        --output-file "$work/$lock" "$source"
    {
        echo "# $lock: every package of $source at an exact version, with its files' sha256."
        echo "# Made by bin/lock.sh (uv $UV_VERSION, universal, Python >= $PYTHON_VERSION); do not edit."
        echo "# Install: .venv/bin/python -m pip install --require-hashes -r $lock"
        echo "# requirements-sha256: $(requirements_hash "$lock")"
        echo
        grep -v -E '^# (requirements-sha256: |Made by bin/lock.sh|Install: |requirements(-dev)?\.lock: )' "$work/$lock" |
            sed '/./,$!d'
    } >"$work/$lock.new"
    mv "$work/$lock.new" "$lock"
    echo "bin/lock.sh: wrote $lock ($(grep -c -E '^[A-Za-z0-9]' "$lock") packages)"
done
