// swift-tools-version: 6.2
//
// Conveyor benchmarks: every benchmark, comparison and soak lives in this nested package, so
// the root package (what library users resolve) never depends on a benchmark framework and
// its public API carries nothing only a benchmark calls.
//
//   BenchSupport         (library) what every runner shares: seeded generator, medians,
//       machine and git description, number formats, aligned tables, aims, the open-loop
//       load generator, the churn and hand-off allocator workloads, common options.
//   conveyor-corebench   (CoreBench) the core comparison table: rings and slab pools against
//       their peers. Plain executable on OS threads. It does NOT link ordo-one/benchmark, so
//       no malloc interposer is in the process: allocator timings are not skewed by the
//       interposer's per-allocation header and bookkeeping.
//   conveyor-enginebench (EngineBench) the engine against Dispatch, TaskGroup and AsyncStream.
//   conveyor-allocators  (AllocatorBench) glibc, jemalloc, mimalloc, tcmalloc and the slab
//       pool, one child process per run. Build it with the `Jemalloc` trait OFF (see below).
//   conveyor-soak        (Soak) a compressed day of mixed load, memory growth after warm-up.
//   conveyor-batchbench  (BatchBench) BatchProcessor: SQLite inserts batched against one
//       transaction per task (system libsqlite3, CSQLite), a summing batch handler against typed
//       single tasks, the batch-size optimizer on a synthetic fixed + per-item cost.
//   CoreBenchmarks       ordo-one/benchmark suite (single-thread ring and allocator workloads,
//       the engine's typed path) with `.mallocCountTotal`, for allocation counts and the
//       regression baseline: `swift package --package-path Benchmarks benchmark --target CoreBenchmarks`.
//   BenchmarksTests      the tests of the runners' own logic (workloads, reports, the soak).
//
// Why a trait here and a second scratch path for the allocator comparison: package traits
// belong to a package in the whole build graph, not to one product, so one build of this
// package cannot link Conveyor with jemalloc for conveyor-corebench (which measures
// mallocx/sdallocx) and without it for conveyor-allocators (whose children must find glibc,
// mimalloc or tcmalloc behind malloc; a linked jemalloc would serve malloc in every child).
// This package therefore forwards its own `Jemalloc` trait (on by default) to Conveyor's, and
// `make bench-allocators` builds conveyor-allocators in a second scratch path with
// `--disable-default-traits` (Benchmarks/.build-allocators). conveyor-allocators refuses to
// run when jemalloc is linked.
import PackageDescription

let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]
let conveyor = Target.Dependency.product(name: "Conveyor", package: "Conveyor")
let conveyorReport = Target.Dependency.product(name: "ConveyorReport", package: "Conveyor")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

/// A runner: an executable in the folder of its name, on BenchSupport, Conveyor and the report.
func runner(_ name: String, also: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name, dependencies: ["BenchSupport", conveyor, conveyorReport] + also, path: name, swiftSettings: strict)
}

let package = Package(
    name: "ConveyorBenchmarks",
    platforms: [.macOS(.v15)],  // Synchronization (Mutex, Atomic); Linux is what is measured.
    products: [
        .executable(name: "conveyor-corebench", targets: ["CoreBench"]),
        .executable(name: "conveyor-enginebench", targets: ["EngineBench"]),
        .executable(name: "conveyor-allocators", targets: ["AllocatorBench"]),
        .executable(name: "conveyor-soak", targets: ["Soak"]),
        // ResultCache and StreamProcessor against their peers (`make bench-cache`).
        .executable(name: "conveyor-cachebench", targets: ["CacheBench"]),
        // BatchProcessor (SQLite through the system libsqlite3, sums, the optimizer) (`make bench-batch`).
        .executable(name: "conveyor-batchbench", targets: ["BatchBench"]),
        // Its synchronous callgrind probe (summing batch against typed single tasks).
        .executable(name: "conveyor-batchprobe", targets: ["BatchProbe"]),
        // `run`, async handlers and results streams against TaskGroup (issue 11).
        .executable(name: "conveyor-concurrencybench", targets: ["ConcurrencyBench"]),
        // 10⁷…10⁹ tasks through every submit path, each proved settled once (`make stress`, issue 16).
        .executable(name: "conveyor-stress", targets: ["Stress"]),
    ],
    traits: [
        .trait(
            name: "Jemalloc",
            description: "Link Conveyor with its Jemalloc trait (slab pools on a jemalloc arena, jemalloc as the process allocator)."
        ),
        .default(enabledTraits: ["Jemalloc"]),
    ],
    dependencies: [
        // The root package (identity taken from its directory; named explicitly so the
        // product references below do not depend on what the checkout directory is called).
        .package(
            name: "Conveyor", path: "..",
            traits: [.trait(name: "Jemalloc", condition: .when(traits: ["Jemalloc"]))]),
        // MallocInterposer only: the default traits also pull swift-runtime-interposer.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "CBenchSupport",
            path: "CBenchSupport",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .target(
            name: "BenchSupport",
            dependencies: ["CBenchSupport", conveyor, conveyorReport, argumentParser],
            path: "BenchSupport",
            swiftSettings: strict
        ),
        runner("CoreBench", also: ["CBenchSupport", .product(name: "DequeModule", package: "swift-collections")]),
        runner("EngineBench", also: [argumentParser]),
        runner("AllocatorBench", also: [argumentParser]),
        runner("Soak", also: [argumentParser, .product(name: "Logging", package: "swift-log")]),
        runner("CacheBench", also: []),
        // The system SQLite (apt libsqlite3-dev), linked by conveyor-batchbench only.
        .systemLibrary(name: "CSQLite", path: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        runner("BatchBench", also: ["CSQLite"]),
        runner("BatchProbe", also: []),
        runner("ConcurrencyBench", also: []),
        runner("Stress", also: []),
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [.product(name: "Benchmark", package: "benchmark"), conveyor],
            path: "CoreBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .testTarget(
            name: "BenchmarksTests",
            dependencies: ["BenchSupport", "AllocatorBench", "EngineBench", "Soak", conveyor, conveyorReport],
            path: "Tests/BenchmarksTests",
            swiftSettings: strict
        ),
    ]
)
