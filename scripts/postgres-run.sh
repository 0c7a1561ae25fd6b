#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL server: starts it (postgres-start.sh), exports
# CONVEYOR_PG_URL, runs "$@", and stops the server whatever the command's outcome (a trap on
# EXIT, so also on failure or Ctrl-C). The command's exit status is the script's; 3 when the
# server could not be installed or started (the command did not run).
#   scripts/postgres-run.sh swift test --no-parallel --filter ConveyorPostgresTests
set -euo pipefail
cd "$(dirname "$0")/.."
export CONVEYOR_PG_STATE="${CONVEYOR_PG_STATE:-.build-postgres/run-$$}"
env_line="$(./scripts/postgres-start.sh)" || {
    echo "error: PostgreSQL could not be started (scripts/postgres-start.sh above); nothing ran" >&2
    ./scripts/postgres-stop.sh || true
    exit 3
}
eval "$env_line"
trap './scripts/postgres-stop.sh; rmdir "$CONVEYOR_PG_STATE" 2>/dev/null || true' EXIT
"$@"
