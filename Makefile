# Conveyor — the commands a newcomer runs.
#   make bench   benchmarks against peers and allocators, with a readable report
#                (bench-allocators alone: glibc, jemalloc, mimalloc, tcmalloc, slab pool)
#   make test    the test suite (jemalloc on, then off; the dashboard's tests in the first only),
#                then the Benchmarks package's tests
#   make test-postgres   the ConveyorPostgres suites alone, against a throw-away PostgreSQL server
#   make bench-postgres  the durable queue's throughput and latency (docs/Postgres.md)
#   make tsan    the tests under ThreadSanitizer (jemalloc off, smaller stress sizes)
#   make asan    the tests under AddressSanitizer (jemalloc off, smaller stress sizes)
#   make soak    a compressed day of mixed load, memory growth after warm-up (DURATION=10m)
#   make bench-check     CoreBenchmarks against the committed baseline (allocations exact)
#   make bench-baseline  record that baseline anew (after an intended change; commit it)
#   make fuzz    every libFuzzer harness FUZZ_SECONDS each (Fuzz/README.md); fuzz-NAME one
#   make model-check     spin model checks of the park/wake protocol (Models/README.md)
#   make fault-injection every allocation site of the C core failed in turn, in C and through the engine (docs/Reliability.md)
#   make stress  TASKS ids (default 10⁷) through every submit path, each proved settled once (docs/Reliability.md)
SWIFT ?= swift
# Stress sizes under sanitizers (1 = full size: 10 million ring items and more).
SANITIZER_STRESS_SCALE ?= 0.2
BENCH_RUNS ?= 5
# Length of `make soak` (90s, 10m, 1h).
DURATION ?= 10m
# Length of the soak inside `make bench` (memory over time in the report).
BENCH_SOAK ?= 60s
# Growth (percent, heap allocated net of jemalloc thread caches, after warm-up) that fails it.
SOAK_MAX_GROWTH ?= 1
# RSS growth (percent) after warm-up above which `make soak` fails.
SOAK_MAX_RSS_GROWTH ?= 2
# The ordo-one/benchmark baseline `bench-check` compares with, stored (and committed) in
# Benchmarks/.benchmarkBaselines/CoreBenchmarks/$(BENCH_BASELINE)/results.json.
BENCH_BASELINE ?= reference
# The trace `bench-simulate` runs the scaling policies on, and the rows of its replay slice
# (the last rows of the trace; 144 half-hours = 3 days).
SIMULATE_TRACE ?= ../shared/traces/elecdemand_30min.csv
SIMULATE_REPLAY_ROWS ?= 144
# Replay speed: trace rows per wall-clock second (lower: less scheduling noise, longer run).
SIMULATE_SPEEDUP ?= 5
BENCHMARK = $(SWIFT) package --package-path Benchmarks --scratch-path Benchmarks/.build
# Every benchmark runner and the soak are executables of the nested Benchmarks package.
BENCH_BUILD = $(SWIFT) build -c release --package-path Benchmarks --scratch-path Benchmarks/.build
BENCH_BIN = Benchmarks/.build/release

.PHONY: postgres-deps test-postgres bench-postgres dashboard-deps fuzz model-check fault-injection all deps build test test-jemalloc test-no-jemalloc test-benchmarks tsan asan soak bench bench-core bench-malloc bench-engine bench-engine-counts bench-soak bench-simulate bench-report bench-check bench-baseline bench-allocators bench-cache bench-batch clean

all: build

deps:
	@./scripts/install-deps.sh

# Chromium, chromedriver and Prometheus for the dashboard's tests with real clients.
dashboard-deps: deps
	@./scripts/install-dashboard-deps.sh

# The PostgreSQL server (Debian's postgresql) the ConveyorPostgres tests and bench start on
# 127.0.0.1 in a temporary directory (scripts/postgres-run.sh), and stop.
postgres-deps: deps
	@./scripts/install-postgres-deps.sh

# CONVEYOR_CORE_ONLY=1 leaves the dashboard (Hummingbird, SwiftNIO, swift-prometheus) out of
# the build (see Package.swift): it is built and tested once, in test-jemalloc, not in the
# jemalloc-off and sanitizer configurations, which are about the core.
CORE_ONLY = CONVEYOR_CORE_ONLY=1

build: deps
	$(SWIFT) build

test: test-jemalloc test-no-jemalloc test-benchmarks

# Default build: jemalloc linked, slabs from a dedicated jemalloc arena.
# --no-parallel: the stress tests run their own threads; suites run one after another so
# they do not starve each other (or the Swift cooperative pool) on a 2-core machine.
# The ConveyorPostgres suites run here (only): scripts/postgres-run.sh starts a server, exports
# CONVEYOR_PG_URL and stops it whatever the outcome; they spawn the `conveyor` executable as
# worker processes, hence the build first.
test-jemalloc: deps dashboard-deps postgres-deps
	$(SWIFT) build --build-tests
	./scripts/postgres-run.sh $(SWIFT) test --skip-build --no-parallel

test-postgres: deps postgres-deps
	$(SWIFT) build --build-tests
	./scripts/postgres-run.sh $(SWIFT) test --skip-build --no-parallel --filter ConveyorPostgresTests

# The Jemalloc trait off: slabs from mmap, the same API and tests.
test-no-jemalloc: deps
	$(CORE_ONLY) $(SWIFT) test --no-parallel --disable-default-traits --scratch-path .build-no-jemalloc

# The tests of the benchmark runners' own code (allocator workloads and reports, the engine
# bench's verdicts, the soak), which live with that code in the nested Benchmarks package:
# the root package keeps no benchmark code and no test target that needs it. One
# configuration only (debug, the Benchmarks package's default traits, jemalloc on): the code
# they test measures the library rather than being it, the allocator workloads check both
# allocator kinds in-process, and the library's own suites run with jemalloc on and off and
# under both sanitizers above and below. What that gives up: the soak no longer runs with
# jemalloc off or under the sanitizers (the engine's exactly-once stress suites still do).
# Costs one more package build (~4 min from clean).
test-benchmarks: deps
	$(SWIFT) test --no-parallel --package-path Benchmarks --scratch-path Benchmarks/.build

# Linking jemalloc replaces the process allocator and breaks the sanitizers' own
# allocators, so sanitizer builds turn the Jemalloc trait off.
tsan: deps
	$(CORE_ONLY) CONVEYOR_STRESS_SCALE=$(SANITIZER_STRESS_SCALE) \
	$(SWIFT) test --no-parallel --sanitize=thread --disable-default-traits --scratch-path .build-tsan

# detect_leaks=0: the Swift runtime keeps metadata allocations alive on purpose.
asan: deps
	$(CORE_ONLY) ASAN_OPTIONS=detect_leaks=0 CONVEYOR_STRESS_SCALE=$(SANITIZER_STRESS_SCALE) \
	$(SWIFT) test --no-parallel --sanitize=address --disable-default-traits --scratch-path .build-asan

# A day of mixed load compressed into DURATION (release build); samples and growth go to
# soak-report/. Fails when heap allocated bytes grow by more than 1 % after warm-up, or the RSS by more than 2 %.
soak: deps
	$(BENCH_BUILD) --product conveyor-soak
	@mkdir -p soak-report
	$(BENCH_BIN)/conveyor-soak --duration $(DURATION) --report soak-report/samples.csv --max-growth $(SOAK_MAX_GROWTH) --max-rss-growth $(SOAK_MAX_RSS_GROWTH)

# The core comparison table (medians of BENCH_RUNS runs, ratios against peers measured in
# the same process), allocation counts per operation from ordo-one/benchmark, the engine
# against Dispatch, TaskGroup and AsyncStream (`conveyor-enginebench`), the allocators
# (`conveyor-allocators`), a short soak (`conveyor-soak`), all executables of Benchmarks/;
# then the report (`conveyor report`): bench-report/report.html (SVG charts), report.json
# (every figure), summary.md. Each part writes its document to
# bench-report/parts/; `bench-report` merges what exists.
bench: bench-core bench-malloc bench-engine bench-engine-counts bench-allocators bench-cache bench-batch bench-soak bench-simulate bench-postgres
	@$(MAKE) --no-print-directory bench-report

bench-core: deps
	$(BENCH_BUILD) --product conveyor-corebench
	@mkdir -p bench-report/parts
	$(BENCH_BIN)/conveyor-corebench --runs $(BENCH_RUNS) --markdown bench-report/corebench.md --json bench-report/parts/core.json
	@echo "The table as Markdown: bench-report/corebench.md"

bench-engine: deps
	$(BENCH_BUILD) --product conveyor-enginebench
	@mkdir -p bench-report/parts
	$(BENCH_BIN)/conveyor-enginebench --runs $(BENCH_RUNS) --markdown bench-report/engine.md --json bench-report/engine.json --document bench-report/parts/engine.json
	@echo "The table as Markdown: bench-report/engine.md"

# Instructions per task (callgrind, a 3×10⁵- minus a 10⁵-task run) and futex calls per task
# (strace -f -c, 2×10⁶ tasks, 2 workers): counts that do not rest on wall clock. ~3 minutes.
bench-engine-counts:
	@./scripts/install-deps.sh valgrind strace
	$(BENCH_BUILD) --product conveyor-enginebench
	@mkdir -p bench-report/parts
	$(BENCH_BIN)/conveyor-enginebench --counts --markdown bench-report/engine-counts.md --json bench-report/engine-counts.json --document bench-report/parts/engine-counts.json

# glibc, jemalloc, mimalloc, tcmalloc and the slab pool, each run in child processes of its
# own (LD_PRELOAD). The binary must not link jemalloc (it would serve malloc in every child).
# Traits belong to a package in the whole build graph, not to one product, so it cannot
# share a build with conveyor-corebench (which needs jemalloc): it is built with the
# Benchmarks package's default traits off (its Jemalloc trait turns on Conveyor's), in a
# scratch path of its own.
bench-allocators:
	@./scripts/install-deps.sh libmimalloc-dev libgoogle-perftools-dev
	$(SWIFT) build -c release --package-path Benchmarks --disable-default-traits --scratch-path Benchmarks/.build-allocators --product conveyor-allocators
	@mkdir -p bench-report/parts
	Benchmarks/.build-allocators/release/conveyor-allocators --runs $(BENCH_RUNS) --json bench-report/allocators.json --markdown bench-report/allocators.md --document bench-report/parts/allocators.json
	@echo "The tables as Markdown: bench-report/allocators.md; every run as JSON: bench-report/allocators.json"

# ResultCache (hit ratios against LRU and Bélády, scan resistance, hits/s against a
# Mutex<Dictionary>, single-flight) and StreamProcessor (peak jemalloc bytes, time against bulk
# submit); docs/Cache.md, docs/Streams.md.
bench-cache: deps
	$(SWIFT) build -c release --package-path Benchmarks --scratch-path Benchmarks/.build --product conveyor-cachebench
	@mkdir -p bench-report/parts
	Benchmarks/.build/release/conveyor-cachebench --runs $(BENCH_RUNS) --revision "$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" --markdown bench-report/cache.md --json bench-report/parts/cache.json
	@echo "The tables as Markdown: bench-report/cache.md"

# BatchProcessor (SQLite inserts batched against one transaction per task, through the system
# libsqlite3; a summing batch handler against typed single tasks; the batch-size optimizer) and
# pipelines (3 trivial stages against one, a slow stage against its own rate, RSS);
# docs/Batching.md, docs/Pipelines.md.
bench-batch: deps
	$(SWIFT) build -c release --package-path Benchmarks --scratch-path Benchmarks/.build --product conveyor-batchbench
	@mkdir -p bench-report/parts
	Benchmarks/.build/release/conveyor-batchbench --runs $(BENCH_RUNS) --revision "$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" --markdown bench-report/batch.md --json bench-report/parts/batch.json
	@echo "The tables as Markdown: bench-report/batch.md"

# Swift Concurrency paths (issue 11): `run` from TaskGroups, serial `run`, async handlers,
# each against the Swift runtime's own peer in the same run (docs/Concurrency.md).
.PHONY: bench-concurrency
bench-concurrency: deps
	$(BENCH_BUILD) --product conveyor-concurrencybench
	$(BENCH_BIN)/conveyor-concurrencybench --runs $(BENCH_RUNS)

# Memory over time for the report; growth is reported, not judged (that is `make soak`).
bench-soak: deps
	$(BENCH_BUILD) --product conveyor-soak
	@mkdir -p bench-report/parts
	$(BENCH_BIN)/conveyor-soak --duration $(BENCH_SOAK) --report bench-report/soak.csv --document bench-report/parts/soak.json

# The scaling policies on a load trace (docs/Scaling.md): the model over the whole trace, then
# a replay of SIMULATE_REPLAY_ROWS rows on the real engine (~30 s at 5 rows per second).
bench-simulate: deps
	$(SWIFT) build -c release --product conveyor
	@mkdir -p bench-report/parts
	.build/release/conveyor simulate --trace $(SIMULATE_TRACE) --with-replay --replay-rows $(SIMULATE_REPLAY_ROWS) --speedup $(SIMULATE_SPEEDUP) \
		--json bench-report/simulate.json --document bench-report/parts/simulate.json

# The durable queue (docs/Postgres.md): `conveyor pg bench` (batched queue ÷ a naive
# one-job-per-query loop, bulk insert, submit → start latency, 3 processes ÷ 1) against a
# throw-away server, into bench-report/postgres.md. Optional in `make bench`: when PostgreSQL
# cannot be installed or started it says so and the bench goes on without these rows.
PG_BENCH_RUNS ?= 3
bench-postgres: deps
	$(SWIFT) build -c release --product conveyor
	@mkdir -p bench-report
	@./scripts/postgres-run.sh .build/release/conveyor pg bench --runs $(PG_BENCH_RUNS) --markdown bench-report/postgres.md; \
	rc=$$?; if [ $$rc -eq 3 ]; then echo "bench-postgres SKIPPED: no PostgreSQL server could be started (see above); install Debian's postgresql (scripts/install-postgres-deps.sh)"; exit 0; fi; exit $$rc

bench-report:
	$(SWIFT) build -c release --product conveyor
	.build/release/conveyor report --skip-missing \
		bench-report/parts/engine.json bench-report/parts/engine-counts.json bench-report/parts/core.json bench-report/parts/allocators.json bench-report/parts/cache.json bench-report/parts/batch.json bench-report/parts/soak.json \
		bench-report/parts/simulate.json bench-report/parts/stress.json

bench-malloc: deps
	$(BENCHMARK) benchmark --target CoreBenchmarks

# CoreBenchmarks against the committed baseline, with the tolerances in
# Benchmarks/CoreBenchmarks/CoreBenchmarks.swift: allocation counts (mallocCountTotal, jemalloc
# bytes) must equal the baseline's; the fastest iteration's wall clock may be up to 2.5× the
# baseline's. About half a minute once built (5–6 minutes from a clean clone).
bench-check: deps
	@$(BENCHMARK) benchmark baseline check $(BENCH_BASELINE) --target CoreBenchmarks --no-progress \
	|| { echo; \
	     echo "bench-check FAILED: a CoreBenchmarks figure is outside its tolerance against the committed"; \
	     echo "baseline '$(BENCH_BASELINE)' (Benchmarks/.benchmarkBaselines/CoreBenchmarks/$(BENCH_BASELINE)); the table above"; \
	     echo "names the benchmark, metric and percentile. Allocations must match exactly, in both"; \
	     echo "directions; wall clock fails only at 2.5x the baseline's fastest iteration. If the change"; \
	     echo "is intended (fewer allocations, a deliberate cost), run 'make bench-baseline' on a quiet"; \
	     echo "machine and commit the new baseline with the change."; \
	     exit 1; }
	@echo "bench-check passed: CoreBenchmarks within the tolerances of baseline '$(BENCH_BASELINE)'."

# Records the baseline bench-check compares with. Run it on a quiet machine (load average
# well below 1), after a change that moves an allocation count on purpose or makes a path
# faster or slower on purpose, or when a benchmark is added; commit the results.json.
bench-baseline: deps
	$(BENCHMARK) --allow-writing-to-package-directory benchmark baseline update $(BENCH_BASELINE) --target CoreBenchmarks --no-progress
	@echo "Baseline written to Benchmarks/.benchmarkBaselines/CoreBenchmarks/$(BENCH_BASELINE)/results.json: commit it."

# libFuzzer harnesses of the C core and the trace parser (Fuzz/README.md): each replays its
# committed corpus, then fuzzes for FUZZ_SECONDS; any crash or sanitizer report fails.
FUZZ_SECONDS ?= 30
FUZZ_NAMES = mpmc_ring slot_ring spsc_ring slab_pool overflow_queue forecast task_state
fuzz: $(addprefix fuzz-,$(FUZZ_NAMES))

fuzz-%: deps
	Fuzz/run.sh run $* $(FUZZ_SECONDS)

# The Nth allocation of the C core fails, for every N over a workload (CNV_FAULT_INJECTION):
# first the C-only driver (Fuzz/harness/fault_loop.c), then the engine's public API
# (Fuzz/EngineFault, its own package and scratch path .build-fault; a child process per N).
fault-injection: deps
	Fuzz/run.sh fault
	$(CORE_ONLY) $(SWIFT) build --package-path Fuzz/EngineFault --scratch-path .build-fault -Xcc -DCNV_FAULT_INJECTION
	.build-fault/debug/conveyor-engine-fault

# TASKS task ids over 4 submitting threads and 3 groups, every submit path, resizes and a
# scaler; a bit per id proves each settled exactly once (Benchmarks/Stress, release build).
# 10⁹ ids take a 125 MB bitmap. Report part: bench-report/parts/stress.json.
# STRESS_CONFIG=debug reuses the Benchmarks package's debug build of `make test-benchmarks`
# (CI: no release build of the package; figures then mean nothing, the exactly-once check does).
TASKS ?= 10000000
STRESS_CONFIG ?= release
.PHONY: stress
stress: deps
	$(SWIFT) build -c $(STRESS_CONFIG) --package-path Benchmarks --scratch-path Benchmarks/.build --product conveyor-stress
	@mkdir -p bench-report/parts
	Benchmarks/.build/$(STRESS_CONFIG)/conveyor-stress --tasks $(TASKS) --markdown bench-report/stress.md --json bench-report/parts/stress.json

# Exhaustive spin runs of the park/wake and shutdown/drain protocol models and their mutants (Models/README.md).
# MODELS: a subset of the runs by name (default: all of them).
MODELS ?=
model-check:
	@./scripts/install-deps.sh spin
	Models/check.sh $(MODELS)

clean:
	rm -rf .build .build-no-jemalloc .build-tsan .build-asan .build-fault Benchmarks/.build Benchmarks/.build-allocators bench-report soak-report
