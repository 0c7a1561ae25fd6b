#!/usr/bin/env bash
# Installs what the dashboard's tests use with real clients (Tests/ConveyorDashboardTests):
# headless Chromium and chromedriver (the page in a real browser) and Prometheus (promtool
# check metrics, and a real server scraping /metrics). Debian/Ubuntu (apt-get); skipped when
# all three are already there. The tests start them on loopback only and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
exec ./scripts/install-deps.sh "${missing[@]}"
