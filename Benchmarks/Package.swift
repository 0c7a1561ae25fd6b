// swift-tools-version: 6.2
//
// Conveyor benchmarks: a nested package so that the root package never depends on the
// benchmark framework.
//
//   conveyor-corebench  (target CoreBench) — the comparison table printed by `make bench`.
//       Plain executable on OS threads. It does NOT link ordo-one/benchmark, so no malloc
//       interposer is in the process: allocator timings are not skewed by the interposer's
//       per-allocation header and bookkeeping.
//   CoreBenchmarks — ordo-one/benchmark suite (single-thread ring and allocator workloads)
//       with `.mallocCountTotal`, for allocation counts and regression baselines:
//       `swift package --package-path Benchmarks benchmark --target CoreBenchmarks`.
import PackageDescription

let package = Package(
    name: "ConveyorBenchmarks",
    platforms: [.macOS(.v15)],  // Synchronization (Mutex, Atomic); Linux is what is measured.
    products: [
        .executable(name: "conveyor-corebench", targets: ["CoreBench"]),
        // ResultCache and StreamProcessor against their peers (`make bench-cache`).
        .executable(name: "conveyor-cachebench", targets: ["CacheBench"]),
    ],
    dependencies: [
        // The root package (identity taken from its directory; named explicitly so the
        // product references below do not depend on what the checkout directory is called).
        .package(name: "Conveyor", path: ".."),
        // MallocInterposer only: the default traits also pull swift-runtime-interposer.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .target(
            name: "CBenchSupport",
            path: "CBenchSupport",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .executableTarget(
            name: "CoreBench",
            dependencies: [
                "CBenchSupport",
                .product(name: "Conveyor", package: "Conveyor"),
                .product(name: "ConveyorReport", package: "Conveyor"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "CoreBench"
        ),
        .executableTarget(
            name: "CacheBench",
            dependencies: [
                .product(name: "Conveyor", package: "Conveyor"),
                .product(name: "ConveyorReport", package: "Conveyor"),
            ],
            path: "CacheBench"
        ),
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Conveyor", package: "Conveyor"),
            ],
            path: "CoreBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ]
)
