#!/usr/bin/env bash
# Installs the PostgreSQL server the ConveyorPostgres tests and bench run against (Debian's
# `postgresql`: initdb, pg_ctl, postgres; psql comes with it). Skipped when initdb is found.
set -euo pipefail
cd "$(dirname "$0")/.."
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
exec ./scripts/install-deps.sh postgresql
