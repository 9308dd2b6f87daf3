#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests unless it is already there.
# Idempotent. Needs root and apt-get (as on the project's machines); elsewhere
# it says what is missing and fails.
set -euo pipefail
CHROMIUM="${CLAWSESSION_TEST_CHROMIUM:-/usr/bin/chromium}"

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "the browser tests need $CHROMIUM (Debian's chromium package): install it, or set CLAWSESSION_TEST_CHROMIUM" >&2
  exit 1
fi
echo "chromium: installing"
# Another run of the tests (or an operator) may be installing too: wait for its lock.
APT=(apt-get -o DPkg::Lock::Timeout=600)
"${APT[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq chromium >/dev/null
[[ -x "$CHROMIUM" ]] || { echo "chromium: installed, but $CHROMIUM is still missing" >&2; exit 1; }
echo "chromium: installed"
