#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the ConveyorPostgres tests and bench: initdb in a
# temporary directory, pg_ctl start on 127.0.0.1 and a free port (sockets in that directory
# too, never the system's), a role `conveyor` with password `conveyor` (scram-sha-256 over
# TCP) and a database `conveyor`. Prints `export CONVEYOR_PG_URL=...` and writes the same to
# $STATE/env (STATE = $CONVEYOR_PG_STATE or .build-postgres); postgres-stop.sh stops it.
# initdb refuses to run as root: as root the server runs as the `postgres` user (runuser).
# CONVEYOR_PG_SERVER_OPTIONS adds server settings, e.g. for profiling the bench:
#   CONVEYOR_PG_SERVER_OPTIONS="-c shared_preload_libraries=pg_stat_statements"
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-postgres-deps.sh >&2
state="${CONVEYOR_PG_STATE:-.build-postgres}"
mkdir -p "$state"
if [ -f "$state/env" ] && [ -f "$state/datadir" ]; then
    echo "error: a server from $state is still recorded; run scripts/postgres-stop.sh first" >&2
    exit 1
fi
bindir=""
for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && bindir="$candidate"
done
if [ -z "$bindir" ]; then
    bindir="$(dirname "$(command -v initdb)")"
fi
data="$(mktemp -d /tmp/conveyor-pg.XXXXXX)"
as=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$data"
    as=(runuser -u postgres --)
fi
chmod 700 "$data"
pwfile="$data/pwfile"
echo conveyor > "$pwfile"
[ ${#as[@]} -gt 0 ] && chown postgres: "$pwfile"
"${as[@]}" "$bindir/initdb" -D "$data/db" -U conveyor --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$data/initdb.log" 2>&1 \
    || { cat "$data/initdb.log" >&2; exit 1; }
# A free port: bind port 0 and read what the kernel chose (a race is possible but rare; pg_ctl
# fails loudly if it lost it).
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
# max_connections: 3 worker processes x (groups + listener + leader + submit pool) and the tests.
"${as[@]}" "$bindir/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=200 ${CONVEYOR_PG_SERVER_OPTIONS:-}" start >/dev/null \
    || { cat "$data/server.log" >&2; exit 1; }
"${as[@]}" "$bindir/createdb" -h "$data" -p "$port" -U conveyor conveyor
url="postgres://conveyor:conveyor@127.0.0.1:$port/conveyor"
echo "$data" > "$state/datadir"
echo "$bindir" > "$state/bindir"
echo "export CONVEYOR_PG_URL=$url" > "$state/env"
echo "export CONVEYOR_PG_URL=$url"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $data (stop: scripts/postgres-stop.sh)" >&2
