// swift-tools-version: 6.2
//
// The engine-level fault-injection loop (`make fault-injection`, docs/Reliability.md): the
// Conveyor module built with `-Xcc -DCNV_FAULT_INJECTION`, so every allocation site of the C
// core (CSources/CConveyor/cnv_fault.h) asks this driver's `cnv_fault_fail` first. A package
// of its own, so that flag and its scratch path (.build-fault) never touch the library's
// builds, and Conveyor is built with its default traits off (slabs from mmap, no jemalloc:
// AddressSanitizer works).
import PackageDescription

let package = Package(
    name: "ConveyorEngineFault",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "conveyor-engine-fault", targets: ["EngineFault"])],
    dependencies: [
        .package(name: "Conveyor", path: "../..", traits: [])
    ],
    targets: [
        .executableTarget(
            name: "EngineFault",
            dependencies: [.product(name: "Conveyor", package: "Conveyor")],
            path: "Sources",
            swiftSettings: [.treatAllWarnings(as: .error)]
        )
    ]
)
