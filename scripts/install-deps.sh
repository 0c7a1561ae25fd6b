#!/usr/bin/env bash
# Installs the system libraries Conveyor builds against, when pkg-config cannot find them:
# liburcu (wfcqueue) and jemalloc; libsqlite3-dev for the Benchmarks package. Debian/Ubuntu only (apt-get). Extra package names may be
# passed as arguments; they are installed when `dpkg -s` does not know them.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if command -v pkg-config >/dev/null 2>&1; then
    pkg-config --exists liburcu-cds || missing+=(liburcu-dev)
    pkg-config --exists jemalloc || missing+=(libjemalloc-dev)
    # SQLite: only the Benchmarks package links it (conveyor-batchbench), never the library.
    pkg-config --exists sqlite3 || missing+=(libsqlite3-dev)
else
    missing+=(liburcu-dev libjemalloc-dev libsqlite3-dev)
fi
for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "Installing ${missing[*]} ..."
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
