import BenchSupport

/// One allocator on one workload: every run's sample, their medians and the ratios to glibc.
///
/// ```swift
/// let churn = report.results.filter { $0.workload == "churn" }
/// for result in churn { print(result.allocator, result.median.nanosecondsPerOperation ?? .nan) }
/// ```
struct AllocatorWorkloadResult: Codable, Sendable, Equatable {
    /// An ``AllocatorContender`` raw value and an ``AllocatorWorkload`` raw value.
    var allocator: String
    var workload: String
    /// One sample per run, in run order.
    var samples: [AllocatorSample]
    /// Each field the median over `samples`.
    var median: AllocatorSample
    /// Against glibc on the same workload; nil for glibc itself and when glibc was not measured.
    var ratiosToGlibc: AllocatorRatios?
}
