#!/usr/bin/env bash
# Compares `conveyor forecast` with statsmodels' Holt-Winters on the same trace, the same
# horizons and the same scored rows (see scripts/statsmodels_holtwinters.py for the method).
#
# Usage: scripts/statsmodels-compare.sh [TRACE.csv] [HORIZON ...]
#   TRACE defaults to ../shared/traces/elecdemand_30min.csv, horizons to "1 6".
#   SCRATCH_PATH (default .build) is the SwiftPM scratch path for the release build.
#
# It creates a throwaway virtualenv under /tmp, installs statsmodels from PyPI into it, and
# removes it on exit. statsmodels is given the season lengths that `conveyor forecast`
# detected (at any of the horizons), so no season is chosen by hand.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
trace="${1:-$root/../shared/traces/elecdemand_30min.csv}"
shift || true
horizons=("$@")
if [ ${#horizons[@]} -eq 0 ]; then horizons=(1 6); fi
scratch="${SCRATCH_PATH:-.build}"

work="$(mktemp -d /tmp/conveyor-statsmodels.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "== building conveyor (release, scratch path $scratch)"
(cd "$root" && swift build -c release --scratch-path "$scratch" --product conveyor >"$work/build.log" 2>&1) || {
    cat "$work/build.log"
    exit 1
}
conveyor="$root/$scratch/release/conveyor"

echo "== creating a throwaway virtualenv in $work/venv and installing statsmodels"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check statsmodels
"$work/venv/bin/python" -c 'import statsmodels; print("statsmodels", statsmodels.__version__)'

seasons=()
for h in "${horizons[@]}"; do
    echo
    echo "== conveyor forecast, horizon $h"
    "$conveyor" forecast --trace "$trace" --horizon "$h" --out "$work/predictions_h$h.csv" | tee "$work/conveyor_h$h.txt"
    found="$(sed -n 's/^season found: \(.*\) intervals$/\1/p' "$work/conveyor_h$h.txt")"
    for m in ${found//+/ }; do
        if [ "$m" != "none" ] && [[ ! " ${seasons[*]-} " == *" $m "* ]]; then seasons+=("$m"); fi
    done
done

if [ ${#seasons[@]} -eq 0 ]; then
    echo "conveyor found no season in this trace: there is no seasonal Holt-Winters to compare with" >&2
    exit 0
fi

season_args=()
for m in "${seasons[@]}"; do season_args+=(--season "$m"); done
for h in "${horizons[@]}"; do
    echo
    echo "== statsmodels Holt-Winters (fitted on the first four seasons, then online), horizon $h"
    "$work/venv/bin/python" "$root/scripts/statsmodels_holtwinters.py" \
        --trace "$trace" --horizon "$h" "${season_args[@]}" --ours "$work/predictions_h$h.csv"
done
