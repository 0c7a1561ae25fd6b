#!/usr/bin/env bash
# Exhaustive spin runs of Models/parking.pml, Models/shutdown.pml and Models/shutdown_closed.pml (Models/README.md):
#   the protocol of today and the planned awake-count rule must pass (no assertion
#   failure, no invalid end state, no truncated search); each mutant must fail.
# MODEL_DEPTH bounds the search depth (pan -m); a run that reaches it fails, so "passed"
# always means the whole state space was explored.
set -euo pipefail
cd "$(dirname "$0")"
depth="${MODEL_DEPTH:-20000}"
work=.work
mkdir -p "$work"
command -v spin >/dev/null || { echo "spin is missing: apt-get install -y spin" >&2; exit 1; }
CC="${CC:-cc}"

# Names given as arguments: run only those (e.g. `Models/check.sh today`).
only=" $* "

# run NAME EXPECT FLAGS...: EXPECT is pass or fail.
run() {
    local name=$1 expect=$2; shift 2
    if [ "$only" != "  " ] && [[ "$only" != *" $name "* ]]; then return 0; fi
    local dir="$work/$name" file="${model:-parking.pml}"
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$file" "$dir/"
    # A run that must pass stores every state (COLLAPSE compression: exhaustive). A mutant
    # only has to be caught: a bitstate search (fixed memory) finds the error sooner.
    local store=(-DCOLLAPSE -DMEMLIM=8192) search=()
    if [ "$expect" = fail ]; then store=(-DBITSTATE); search=(-w28); fi
    (cd "$dir" && spin -a "$@" "$file" >/dev/null && \
        "$CC" -O2 -w -DSAFETY "${store[@]}" -o pan pan.c)
    local start=$SECONDS
    (cd "$dir" && ./pan -m"$depth" "${search[@]}" >pan.out 2>&1) || true
    local seconds=$((SECONDS - start))
    local out="$dir/pan.out"
    local errors states depth_reached
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | tail -1)
    states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out" | tail -1)
    depth_reached=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" | tail -1)
    local truncated=no
    grep -q "max search depth too small" "$out" && truncated=yes
    local what
    what=$(grep -m1 -E "^pan:[0-9]+: " "$out" | sed 's/^pan:[0-9]*: //' || true)
    printf '%-28s expect %-4s  errors %-2s states %-10s depth %-5s truncated %-3s %3ss  %s\n' \
        "$name" "$expect" "${errors:-?}" "${states:-?}" "${depth_reached:-?}" "$truncated" "$seconds" "$what"
    if [ "$expect" = pass ]; then
        [ "${errors:-1}" = 0 ] && [ "$truncated" = no ] || { echo "FAILED: $name (see $out)" >&2; return 1; }
    else
        [ "${errors:-0}" != 0 ] || { echo "FAILED: mutant $name was not caught (see $out)" >&2; return 1; }
        # The counterexample, for the record: spin -t replays it.
        (cd "$dir" && spin -t -p -g "$@" "$file" >trail.txt 2>&1 || true)
    fi
}

status=0
run today              pass                              || status=1
run awake_rule         pass -DRULE_AWAKE                 || status=1
run mutant_no_unpark_fence  fail -DNO_RESCUE -DMUTANT_NO_UNPARK_FENCE || status=1
run mutant_no_prepare_fence fail -DNO_RESCUE -DMUTANT_NO_PREPARE_FENCE || status=1
run mutant_awake_no_submit_fence fail -DRULE_AWAKE -DNO_RESCUE -DMUTANT_NO_SUBMIT_FENCE || status=1
# Not a mutant after all: without the worker's fence after awake--, the fence and recheck in
# cnv_parker_prepare still order it before the park (spin: no error), so it must pass.
run awake_rule_without_idle_fence pass -DRULE_AWAKE -DMUTANT_NO_IDLE_FENCE || status=1
# The shutdown/drain protocol (shutdown.pml): today's gate, and its mutants.
model=shutdown.pml run shutdown_today                pass || status=1
model=shutdown.pml run shutdown_mutant_weak_enter    fail -DMUTANT_WEAK_ENTER || status=1
model=shutdown.pml run shutdown_mutant_weak_close    fail -DMUTANT_WEAK_CLOSE || status=1
model=shutdown.pml run shutdown_mutant_relaxed_leave fail -DMUTANT_RELAXED_LEAVE || status=1
model=shutdown.pml run shutdown_mutant_no_wait       fail -DMUTANT_NO_WAIT || status=1
model=shutdown.pml run shutdown_mutant_no_sweep      fail -DMUTANT_NO_SWEEP || status=1
# The CLOSED-bit protocol that replaced the per-task gate (shutdown_closed.pml, issue 10).
model=shutdown_closed.pml run shutdown_closed                pass || status=1
model=shutdown_closed.pml run shutdown_closed_mutant_no_publish_wait  fail -DMUTANT_NO_PUBLISH_WAIT || status=1
model=shutdown_closed.pml run shutdown_closed_mutant_overflow_no_gate fail -DMUTANT_OVERFLOW_NO_GATE || status=1
model=shutdown_closed.pml run shutdown_closed_mutant_claim_ignores_closed fail -DMUTANT_CLAIM_IGNORES_CLOSED || status=1
exit $status
