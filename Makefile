# Conveyor — the commands a newcomer runs.
#   make bench   benchmarks against peers and allocators, with a readable report
#                (bench-allocators alone: glibc, jemalloc, mimalloc, tcmalloc, slab pool)
#   make test    the test suite (jemalloc on, then off; the dashboard's tests in the first only)
#   make tsan    the tests under ThreadSanitizer (jemalloc off, smaller stress sizes)
#   make asan    the tests under AddressSanitizer (jemalloc off, smaller stress sizes)
#   make soak    a compressed day of mixed load, memory growth after warm-up (DURATION=10m)
#   make bench-check     CoreBenchmarks against the committed baseline (allocations exact)
#   make bench-baseline  record that baseline anew (after an intended change; commit it)
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
# The ordo-one/benchmark baseline `bench-check` compares with, stored (and committed) in
# Benchmarks/.benchmarkBaselines/CoreBenchmarks/$(BENCH_BASELINE)/results.json.
BENCH_BASELINE ?= reference
BENCHMARK = $(SWIFT) package --package-path Benchmarks --scratch-path Benchmarks/.build

.PHONY: all deps dashboard-deps build test test-jemalloc test-no-jemalloc tsan asan soak bench bench-core bench-malloc bench-engine bench-soak bench-report bench-check bench-baseline bench-allocators clean

all: build

deps:
	@./scripts/install-deps.sh

# Chromium, chromedriver and Prometheus for the dashboard's tests with real clients.
dashboard-deps: deps
	@./scripts/install-dashboard-deps.sh

# CONVEYOR_CORE_ONLY=1 leaves the dashboard (Hummingbird, SwiftNIO, swift-prometheus) out of
# the build (see Package.swift): it is built and tested once, in test-jemalloc, not in the
# jemalloc-off and sanitizer configurations, which are about the core.
CORE_ONLY = CONVEYOR_CORE_ONLY=1

build: deps
	$(SWIFT) build

test: test-jemalloc test-no-jemalloc

# Default build: jemalloc linked, slabs from a dedicated jemalloc arena.
# --no-parallel: the stress tests run their own threads; suites run one after another so
# they do not starve each other (or the Swift cooperative pool) on a 2-core machine.
test-jemalloc: deps dashboard-deps
	$(SWIFT) test --no-parallel

# The Jemalloc trait off: slabs from mmap, the same API and tests.
test-no-jemalloc: deps
	$(CORE_ONLY) $(SWIFT) test --no-parallel --disable-default-traits --scratch-path .build-no-jemalloc

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
# soak-report/. Fails when heap allocated bytes grow by more than 1 % after warm-up.
soak: deps
	$(SWIFT) build -c release --product conveyor
	@mkdir -p soak-report
	.build/release/conveyor soak --duration $(DURATION) --report soak-report/samples.csv --max-growth $(SOAK_MAX_GROWTH)

# The core comparison table (medians of BENCH_RUNS runs, ratios against peers measured in
# the same process), allocation counts per operation from ordo-one/benchmark, the engine
# against Dispatch, TaskGroup and AsyncStream (`conveyor bench`), the allocators (`conveyor
# allocators`), a short soak, then the report: bench-report/report.html (SVG charts),
# report.json (every figure), summary.md. Each part writes its document to
# bench-report/parts/; `bench-report` merges what exists.
bench: bench-core bench-malloc bench-engine bench-allocators bench-soak
	@$(MAKE) --no-print-directory bench-report

bench-core: deps
	$(SWIFT) build -c release --package-path Benchmarks --scratch-path Benchmarks/.build --product conveyor-corebench
	@mkdir -p bench-report/parts
	Benchmarks/.build/release/conveyor-corebench --runs $(BENCH_RUNS) --markdown bench-report/corebench.md --json bench-report/parts/core.json
	@echo "The table as Markdown: bench-report/corebench.md"

bench-engine: deps
	$(SWIFT) build -c release --product conveyor
	@mkdir -p bench-report/parts
	.build/release/conveyor bench --runs $(BENCH_RUNS) --markdown bench-report/engine.md --json bench-report/engine.json --document bench-report/parts/engine.json
	@echo "The table as Markdown: bench-report/engine.md"

# glibc, jemalloc, mimalloc, tcmalloc and the slab pool, each run in child processes of its
# own (LD_PRELOAD). The binary must not link jemalloc (it would serve malloc in every child),
# so it is built with the Jemalloc trait off, in a scratch path of its own.
bench-allocators:
	@./scripts/install-deps.sh libmimalloc-dev libgoogle-perftools-dev
	$(SWIFT) build -c release --disable-default-traits --scratch-path .build-allocators --product conveyor
	@mkdir -p bench-report/parts
	.build-allocators/release/conveyor allocators --runs $(BENCH_RUNS) --json bench-report/allocators.json --markdown bench-report/allocators.md --document bench-report/parts/allocators.json
	@echo "The tables as Markdown: bench-report/allocators.md; every run as JSON: bench-report/allocators.json"

# Memory over time for the report; growth is reported, not judged (that is `make soak`).
bench-soak: deps
	$(SWIFT) build -c release --product conveyor
	@mkdir -p bench-report/parts
	.build/release/conveyor soak --duration $(BENCH_SOAK) --report bench-report/soak.csv --document bench-report/parts/soak.json

bench-report:
	$(SWIFT) build -c release --product conveyor
	.build/release/conveyor report --skip-missing \
		bench-report/parts/engine.json bench-report/parts/core.json bench-report/parts/allocators.json bench-report/parts/soak.json

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

clean:
	rm -rf .build .build-no-jemalloc .build-tsan .build-asan .build-allocators Benchmarks/.build bench-report soak-report
