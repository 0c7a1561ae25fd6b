#!/usr/bin/env bash
# Stops the server scripts/postgres-start.sh started (immediate mode) and removes its directory.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${CONVEYOR_PG_STATE:-.build-postgres}"
if [ ! -f "$state/datadir" ]; then
    echo "no server recorded in $state (nothing to stop)" >&2
    exit 0
fi
data="$(cat "$state/datadir")"
bindir="$(cat "$state/bindir")"
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
if [ -d "$data/db" ]; then
    "${as[@]}" "$bindir/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
fi
case "$data" in
    /tmp/conveyor-pg.*) rm -rf "$data" ;;
esac
rm -f "$state/datadir" "$state/bindir" "$state/env"
