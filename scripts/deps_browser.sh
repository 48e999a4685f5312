#!/bin/sh
# deps_browser.sh - installs what the checks of the HTML report need, when
# missing: Debian's chromium (tests/browser_report.sh opens the demo report
# headless) and tidy (tests/cli_report.tests validates the page). Only
# `make check` calls it; building and `make demo` never need a browser.
#
# usage: scripts/deps_browser.sh
# Exit 0 when both are present afterwards, 1 when they could not be installed
# (no root and no password-less sudo, no network): the browser test then
# reports itself SKIPPED, loudly, and the tidy case is skipped.
set -u

missing=""
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
    missing="$missing chromium"
command -v tidy >/dev/null 2>&1 || missing="$missing tidy"
if [ -z "$missing" ]; then
    echo "deps-browser: chromium and tidy present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "deps-browser: missing:$missing; not root and no password-less sudo:" \
        "apt-get install$missing to check the HTML report" >&2
    exit 1
fi

echo "deps-browser: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends $missing; }; then
    echo "deps-browser: apt-get could not install$missing" >&2
    exit 1
fi
