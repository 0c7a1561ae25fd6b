#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses (see Fuzz/README.md).
#   Fuzz/run.sh build NAME          build Fuzz/.work/bin/fuzz_NAME
#   Fuzz/run.sh run NAME SECONDS    build, then fuzz NAME for SECONDS (corpus: the committed
#                                   seeds plus Fuzz/.work/corpus/NAME); fails on any finding;
#                                   FUZZ_RUNS=N stops it after N executions if that comes first
#   Fuzz/run.sh merge NAME          merge the grown corpus into Fuzz/corpus/NAME (minimised)
#   Fuzz/run.sh fault               the fault-injection loop (fault_loop.c)
#   Fuzz/run.sh names               the harness names
# Every run first replays the committed corpus (regression inputs included), then mutates.
set -euo pipefail
cd "$(dirname "$0")/.."

names="mpmc_ring slot_ring spsc_ring slab_pool overflow_queue forecast task_state"
work=Fuzz/.work

# The toolchain's clang carries libFuzzer (libclang_rt.fuzzer); Debian's clang is the fallback.
swift_bin="$(dirname "$(readlink -f "$(command -v swift)")")"
CLANG="${FUZZ_CC:-$swift_bin/clang}"
[ -x "$CLANG" ] || CLANG=clang
SWIFTC="${FUZZ_SWIFTC:-$swift_bin/swiftc}"
[ -x "$SWIFTC" ] || SWIFTC=swiftc

core=CSources/CConveyor
cflags=(-fuse-ld=lld -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$core/include"
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined ${FUZZ_CFLAGS:-})

# The rings', the pool's and the overflow queue's scripts move up to hundreds of values per
# operation, and every per-value comparison (the structure's own, the model's) called
# libFuzzer's trace-cmp hook: 75 % of the time for the rings, 40 % for the overflow queue,
# for a table of recent comparisons that these scripts (operation and size bytes taken modulo
# small numbers) do not need. Edge coverage stays on (docs/Reliability.md, "Cost").
bulk_cflags=(-fno-sanitize-coverage=trace-cmp)

# Per-harness libFuzzer options: the longest script worth running (longer inputs only
# repeat operations; the ring laps and the 64-bit wrap need far fewer).
fuzz_options() {
    case $1 in
    mpmc_ring | spsc_ring | slot_ring) echo -max_len=512 ;;
    overflow_queue) echo -max_len=1024 ;;  # 512 operations: room for 8,192 queued values
    esac
}

build() {
    local name=$1 out="$work/bin/fuzz_$1"
    mkdir -p "$work/bin"
    case $name in
    mpmc_ring)
        "$CLANG" "${cflags[@]}" "${bulk_cflags[@]}" Fuzz/harness/fuzz_ring.c "$core/cnv_rings.c" -o "$out" ;;
    slot_ring)
        "$CLANG" "${cflags[@]}" "${bulk_cflags[@]}" Fuzz/harness/fuzz_slot_ring.c "$core/cnv_slot_ring.c" \
            "$core/cnv_rings.c" -o "$out" ;;
    spsc_ring)
        "$CLANG" "${cflags[@]}" "${bulk_cflags[@]}" -DFUZZ_RING_SPSC Fuzz/harness/fuzz_ring.c "$core/cnv_rings.c" \
            -o "$out" ;;
    slab_pool)
        "$CLANG" "${cflags[@]}" "${bulk_cflags[@]}" Fuzz/harness/fuzz_slab_pool.c "$core/cnv_slab_pool.c" "$core/cnv_rings.c" \
            -lpthread -o "$out" ;;
    overflow_queue)
        "$CLANG" "${cflags[@]}" "${bulk_cflags[@]}" Fuzz/harness/fuzz_overflow_queue.c "$core/cnv_overflow_queue.c" \
            "$core/cnv_slab_pool.c" "$core/cnv_rings.c" $(pkg-config --libs liburcu-cds) -lpthread -o "$out" ;;
    task_state)
        # cnv_task.h is header-only; the helper threads (fuzz_helpers.h) read the slab TLS table.
        # trace-cmp off too: 56 % of its time was the compare hooks (the model's 64-bit word
        # comparisons, its loops); the script's bytes are taken modulo small numbers.
        "$CLANG" "${cflags[@]}" "${bulk_cflags[@]}" Fuzz/harness/fuzz_task_state.c "$core/cnv_slab_pool.c" "$core/cnv_rings.c" \
            -lpthread -o "$out" ;;
    fault_loop)
        # Not a fuzzer: the allocation-failure loop, with the core's fault points compiled in.
        "$CLANG" -fuse-ld=lld -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -DCNV_FAULT_INJECTION \
            -I"$core/include" -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            Fuzz/harness/fault_loop.c "$core/cnv_rings.c" "$core/cnv_slab_pool.c" "$core/cnv_overflow_queue.c" \
            "$core/cnv_parker.c" $(pkg-config --libs liburcu-cds) -lpthread -o "$out" ;;
    forecast)
        # One module: the library's sources and the harness (it calls the API directly).
        "$SWIFTC" -swift-version 6 -parse-as-library -O -sanitize=fuzzer,address -use-ld=lld \
            -module-name FuzzForecast Sources/ConveyorForecasting/*.swift Fuzz/forecast/FuzzForecast.swift -o "$out" ;;
    *) echo "unknown harness '$name' (one of: $names)" >&2; exit 2 ;;
    esac
}

run() {
    local name=$1 seconds=$2
    build "$name"
    local corpus="$work/corpus/$name" artifacts="$work/artifacts/$name"
    mkdir -p "$corpus" "$artifacts"
    local log="$work/fuzz_$name.log"
    echo "fuzz_$name: ${seconds}s (log: $log)"
    case $name in
    slab_pool | overflow_queue | task_state)
        # While fuzzing, one input in FUZZ_THREADED_ONE_IN uses the helper threads
        # (fuzz_helpers.h); the committed corpus (regression inputs included) first replays
        # with every input threaded, as it was found. The replay's time counts in SECONDS.
        local began=$SECONDS
        if ! FUZZ_THREADED_ONE_IN=1 ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
            UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" "$work/bin/fuzz_$name" -timeout=60 \
            -rss_limit_mb=3072 -artifact_prefix="$artifacts/" "Fuzz/corpus/$name"/* >"$work/replay_$name.log" 2>&1; then
            echo "fuzz_$name FAILED replaying Fuzz/corpus/$name threaded: see $work/replay_$name.log" >&2
            tail -40 "$work/replay_$name.log" >&2
            return 1
        fi
        echo "replayed $(ls "Fuzz/corpus/$name" | wc -l) committed inputs threaded in $((SECONDS - began))s"
        seconds=$((seconds - (SECONDS - began)))
        [ "$seconds" -ge 1 ] || seconds=1
        ;;
    esac
    # detect_leaks: on (the harnesses free everything; LeakSanitizer checks at exit).
    # The CPU time the run got (user + sys) goes into the log too: on a shared machine it, not
    # the wall time, bounds the executions (docs/Reliability.md, "Runs").
    local timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -a -o "$log" -f 'cpu: %U s user, %S s sys, %e s wall')
    set +e
    # FUZZ_RUNS=N (optional) also stops the run after N executions (long runs: -runs=10000000).
    local runs=()
    [ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
        "${timer[@]}" "$work/bin/fuzz_$name" -max_total_time="$seconds" "${runs[@]}" -timeout=60 -rss_limit_mb=3072 $(fuzz_options "$name") \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "Fuzz/corpus/$name" >"$log" 2>&1
    local status=$?
    set -e
    # The last status line carries the coverage (cov: edges, ft: features) and the speed.
    grep -E '^#[0-9]+' "$log" | tail -1 || true
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^cpu: ' "$log" || true
    if [ $status -ne 0 ]; then
        echo "fuzz_$name FAILED (exit $status): the finding and its input are in $log and $artifacts/" >&2
        tail -40 "$log" >&2
        return 1
    fi
}

# Replaces Fuzz/corpus/NAME by a coverage-minimised merge (libFuzzer -merge=1) of itself and
# the working corpus a run grew; the named inputs (seeds, regression inputs) always stay.
merge() {
    local name=$1 fresh="$work/merged/$1"
    build "$name"
    rm -rf "$fresh"
    mkdir -p "$fresh" "$work/corpus/$name"
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$work/bin/fuzz_$name" -merge=1 $(fuzz_options "$name") \
        "$fresh" "Fuzz/corpus/$name" "$work/corpus/$name" >"$work/merge_$name.log" 2>&1 || {
        tail -20 "$work/merge_$name.log" >&2
        return 1
    }
    local before
    before=$(ls "Fuzz/corpus/$name" | wc -l)
    find "Fuzz/corpus/$name" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
    cp -n "$fresh"/* "Fuzz/corpus/$name/"
    echo "Fuzz/corpus/$name: $before -> $(ls "Fuzz/corpus/$name" | wc -l) inputs"
}

case "${1:-}" in
build) build "$2" ;;
merge) merge "$2" ;;
fault) build fault_loop && ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$work/bin/fuzz_fault_loop" ;;
run) run "$2" "${3:-30}" ;;
names) echo "$names" ;;
*) sed -n '2,10p' "$0"; exit 2 ;;
esac
