import BenchSupport

/// A workload `conveyor-allocators` runs on every allocator, one child process per run.
///
/// ```swift
/// for workload in AllocatorWorkload.allCases { print(workload.rawValue, workload.title) }
/// ```
enum AllocatorWorkload: String, CaseIterable, Codable, Sendable {
    /// One thread replaces a pseudo-random task record of a live working set per operation.
    case churn
    /// A producer thread allocates records, a consumer thread frees them (an SPSCRing between).
    case producerConsumer = "producer-consumer"
    /// Mixed sizes up to a live target, 3 of 4 freed at random (fragmentation), then release.
    case burst
    /// The whole engine at a fixed rate, task records from the allocator.
    case engine

    var title: String {
        switch self {
        case .churn: "Same-thread churn of task records"
        case .producerConsumer: "Producer allocates, consumer frees"
        case .burst: "Mixed-size burst, 3 of 4 freed, then release (fragmentation)"
        case .engine: "The engine at a fixed rate, task records on the allocator"
        }
    }
}
