#!/usr/bin/env bash
# Installs promtool (Debian's prometheus package) for the tests that check the
# alert rules, unless it is already there. Idempotent. Needs root and apt-get
# (as on the project's machines); elsewhere it says what is missing and fails.
set -euo pipefail
PROMTOOL="${CLAWSESSION_TEST_PROMTOOL:-promtool}"

if command -v "$PROMTOOL" >/dev/null; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "the alert rule tests need $PROMTOOL (Debian's prometheus package): install it, or set CLAWSESSION_TEST_PROMTOOL" >&2
  exit 1
fi
echo "promtool: installing"
# Another run of the tests (or an operator) may be installing too: wait for its lock.
APT=(apt-get -o DPkg::Lock::Timeout=600)
"${APT[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends prometheus >/dev/null
command -v "$PROMTOOL" >/dev/null || { echo "promtool: installed, but $PROMTOOL is still missing" >&2; exit 1; }
echo "promtool: installed"
