import BenchSupport

/// Everything `conveyor-allocators` measured, as written by `--json` (and rendered as the
/// Markdown and terminal tables).
///
/// ```swift
/// let report = try JSONDecoder().decode(AllocatorBenchReport.self, from: Data(contentsOf: url))
/// for result in report.results where result.workload == "burst" {
///     print(result.allocator, result.median.fragmentation ?? .nan, result.ratiosToGlibc?.fragmentation ?? .nan)
/// }
/// ```
struct AllocatorBenchReport: Codable, Sendable, Equatable {
    /// Increases when a field changes meaning or goes away.
    var formatVersion = 1
    /// CPU, cores, kernel, build, git revision, date and load (the `conveyor-enginebench` line).
    var machine: String
    /// When the run started, "YYYY-MM-DD HH:MM UTC".
    var date: String
    /// `git rev-parse --short=12 HEAD`, with " + uncommitted changes" when dirty.
    var gitRevision: String
    /// Runs of every (allocator, workload) pair, and whether `--quick` sizes were used.
    var runs: Int
    var quick: Bool
    /// Seed of the burst plan, the churn slot choice and the engine's arrivals.
    var seed: UInt64
    /// Time spent running children, minutes.
    var minutes: Double
    /// The 1-minute load average when the last child finished (the machine line has it at
    /// the start): above the core count, something else competed for the CPU.
    var loadAverageAtEnd: String
    /// How every figure is taken (Markdown).
    var method: String
    var sizes: AllocatorBenchSizes
    var allocators: [AllocatorDescription]
    /// ``AllocatorWorkload`` raw values, in table order.
    var workloads: [String]
    /// One entry per (allocator, workload), workloads in order, allocators in order within each.
    var results: [AllocatorWorkloadResult]

    func result(_ allocator: String, _ workload: String) -> AllocatorWorkloadResult? {
        self.results.first { $0.allocator == allocator && $0.workload == workload }
    }
}
