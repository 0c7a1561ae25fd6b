// swift-tools-version: 6.2
//
// Conveyor: an in-process task queue for Swift on Linux with a lock-free C core.
//
// Build switches (package traits):
//   Jemalloc (default on) — slab memory comes from a dedicated jemalloc arena and
//   jemalloc becomes the process allocator (it is linked). Turn it off with
//   `--disable-default-traits` for sanitizer builds: slabs then come from mmap.
//
// CONVEYOR_CORE_ONLY=1 (environment) leaves out the HTTP dashboard: the ConveyorDashboard
// product, its tests and `conveyor demo`. Hummingbird and SwiftNIO are the heaviest part of
// the build (minutes on 2 cores), and they test nothing about the lock-free core, so the
// Makefile sets it for test-no-jemalloc, tsan and asan: CI builds the dashboard once (in
// `make test-jemalloc`) instead of four times. SwiftPM has no per-configuration product
// switch (traits cannot drop a package dependency's build or a test target), hence a variable.
import PackageDescription

let coreOnly = Context.environment["CONVEYOR_CORE_ONLY"] == "1"

let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    .define("CONVEYOR_JEMALLOC", .when(traits: ["Jemalloc"])),
]

var package = Package(
    name: "Conveyor",
    platforms: [.macOS(.v15)],  // Linux only in practice; this keeps Synchronization available.
    products: [
        .library(name: "Conveyor", targets: ["Conveyor"]),
        .library(name: "ConveyorForecasting", targets: ["ConveyorForecasting"]),
        // The bench report format and its HTML/SVG rendering, shared with Benchmarks/.
        .library(name: "ConveyorReport", targets: ["ConveyorReport"]),
        .executable(name: "conveyor", targets: ["ConveyorCLI"]),
    ],
    traits: [
        .trait(
            name: "Jemalloc",
            description: "Back slab pools with a dedicated jemalloc arena (links jemalloc as the process allocator)."
        ),
        .default(enabledTraits: ["Jemalloc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // System libraries, found with pkg-config (headers live under the multiarch include dir).
        .systemLibrary(
            name: "CURCU",
            path: "CSources/CURCU",
            pkgConfig: "liburcu-cds",
            providers: [.apt(["liburcu-dev"])]
        ),
        .systemLibrary(
            name: "CJemalloc",
            path: "CSources/CJemalloc",
            pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),
        // The lock-free C core: rings, overflow queue, slab pools, parking, memory statistics.
        .target(
            name: "CConveyor",
            dependencies: [
                "CURCU",
                .target(name: "CJemalloc", condition: .when(traits: ["Jemalloc"])),
            ],
            path: "CSources/CConveyor",
            cSettings: [
                .define("_GNU_SOURCE"),
                .define("CONVEYOR_JEMALLOC", .when(traits: ["Jemalloc"])),
                .enableWarning("all"),
                .enableWarning("extra"),
                .treatAllWarnings(as: .error),
            ],
            // The ResultCache's read table (cnv_read_table.c) uses urcu-bp's read-side
            // sections and call_rcu (LGPL-2.1, linked dynamically).
            linkerSettings: [.linkedLibrary("urcu-bp")]
        ),
        .target(
            name: "Conveyor",
            dependencies: [
                "CConveyor",
                // The predictive scaler (Sources/Conveyor/Scaling) forecasts with it.
                "ConveyorForecasting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // Load forecasting: pure Swift, no dependency on the engine (the engine's scaler uses it).
        .target(
            name: "ConveyorForecasting",
            swiftSettings: strict
        ),
        // The `make bench` report: documents, merged JSON, self-contained HTML with SVG charts.
        .target(
            name: "ConveyorReport",
            swiftSettings: strict
        ),
        // `conveyor forecast` and `conveyor report`: the commands users run on their own data.
        // Benchmarks and the soak are executables of the nested Benchmarks/ package.
        .executableTarget(
            name: "ConveyorCLI",
            dependencies: [
                // `conveyor simulate` runs the scaler's planner and, in replay mode, the engine.
                "Conveyor",
                "ConveyorForecasting",
                "ConveyorReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConveyorTests",
            dependencies: [
                "Conveyor",
                "ConveyorForecasting",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The commands' own checks (options, messages, exit on nothing scored), in-process.
        .testTarget(
            name: "ConveyorCLITests",
            dependencies: ["ConveyorCLI", "Conveyor", "ConveyorForecasting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConveyorReportTests",
            dependencies: ["ConveyorReport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConveyorForecastingTests",
            dependencies: ["ConveyorForecasting"],
            swiftSettings: strict
        ),
    ],
    cLanguageStandard: .c11
)

// The live dashboard and Prometheus endpoint (docs/Dashboard.md): a product of its own, never
// a dependency of `Conveyor`, so users of the core library never build an HTTP server.
if !coreOnly {
    package.products.append(.library(name: "ConveyorDashboard", targets: ["ConveyorDashboard"]))
    package.dependencies += [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ]
    package.targets += [
        .target(
            name: "ConveyorDashboard",
            dependencies: [
                "Conveyor",
                "ConveyorForecasting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConveyorDashboardTests",
            dependencies: [
                "ConveyorDashboard", "Conveyor", .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
    ]
    if let cli = package.targets.first(where: { $0.name == "ConveyorCLI" }) {
        cli.dependencies.append("ConveyorDashboard")
    }
}

// Durable tasks on PostgreSQL (docs/Postgres.md): a product of its own on postgres-nio, never a
// dependency of `Conveyor`. Dropped with the dashboard under CONVEYOR_CORE_ONLY=1: its tests need
// a running server (make test-postgres starts one) and say nothing about the lock-free core.
if !coreOnly {
    package.products.append(.library(name: "ConveyorPostgres", targets: ["ConveyorPostgres"]))
    package.dependencies.append(.package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"))
    package.targets += [
        .target(
            name: "ConveyorPostgres",
            dependencies: [
                "Conveyor",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConveyorPostgresTests",
            dependencies: [
                "ConveyorPostgres", "Conveyor", .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
    ]
    if let cli = package.targets.first(where: { $0.name == "ConveyorCLI" }) {
        cli.dependencies += ["ConveyorPostgres", .product(name: "PostgresNIO", package: "postgres-nio")]
    }
}
