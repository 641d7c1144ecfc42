#!/usr/bin/env bash
# Install what the browser test (tests/test_browser.py) drives: Debian's Chromium and a CJK font
# (without one the admin's 简体中文 renders as boxes in the screenshots). Idempotent: installs only
# what is missing, so CI can call it on every run. Needs root (or sudo) and apt.
set -euo pipefail

CHROMIUM="${WXSITE_CHROMIUM:-/usr/bin/chromium}"
packages=()
[ -x "$CHROMIUM" ] || packages+=(chromium)
# fc-list comes with fontconfig, which chromium depends on; before chromium is installed it may be
# missing, and then the font is needed anyway.
if ! command -v fc-list >/dev/null || [ -z "$(fc-list :lang=zh-cn family)" ]; then
    packages+=(fonts-noto-cjk)
fi

if [ ${#packages[@]} -eq 0 ]; then
    echo "install_browser: $("$CHROMIUM" --version 2>/dev/null) and a CJK font are installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install_browser: run as root to install ${packages[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "install_browser: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${packages[@]}"
"$CHROMIUM" --version
