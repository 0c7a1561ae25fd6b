import BenchSupport
import Conveyor

/// The sizes of every workload (full or `--quick`), recorded in the report.
///
/// ```swift
/// let sizes = AllocatorBenchSizes(quick: false)
/// print(sizes.recordBytes, sizes.churnOperations)  // 128 10000000
/// ```
struct AllocatorBenchSizes: Codable, Sendable, Equatable {
    /// Bytes per block in churn and producer/consumer: the engine's task record
    /// (`Conveyor.taskRecordSize`).
    var recordBytes: Int
    /// Blocks live at once in churn (the working set), and replacements measured (one
    /// replacement = one free + one allocation = one operation). A warm-up of a tenth of the
    /// operations runs first.
    var churnWorkingSet: Int
    var churnOperations: Int
    /// Blocks the producer allocates and the consumer frees (one block = one operation), the
    /// ring's capacity and the batch passed through it at once.
    var handOffOperations: Int
    var handOffRingCapacity: Int
    var handOffBatch: Int
    /// Burst: blocks are allocated until their requested bytes reach `burstTargetBytes`;
    /// sizes from `burstMinimumBytes` to `burstMaximumBytes` (see ``BurstPlan``).
    var burstTargetBytes: Int
    var burstMinimumBytes: Int
    var burstMaximumBytes: Int
    /// Share of the burst's blocks freed before fragmentation is measured.
    var burstFreedShare: Double
    /// Engine: Poisson arrivals at `engineRate` tasks/s for `engineSeconds`; the first
    /// `engineWarmupShare` of the tasks are not measured.
    var engineRate: Double
    var engineSeconds: Double
    var engineWarmupShare: Double

    init(quick: Bool) {
        self.recordBytes = Conveyor.taskRecordSize
        self.handOffRingCapacity = 1024
        self.handOffBatch = 32
        self.burstMinimumBytes = 16
        self.burstMaximumBytes = 4096
        self.burstFreedShare = 0.75
        self.engineRate = 100_000
        self.engineWarmupShare = 0.1
        if quick {
            self.churnWorkingSet = 4096
            self.churnOperations = 200_000
            self.handOffOperations = 200_000
            self.burstTargetBytes = 8 << 20
            self.engineSeconds = 0.2
        } else {
            self.churnWorkingSet = 16_384
            self.churnOperations = 10_000_000
            self.handOffOperations = 4_000_000
            self.burstTargetBytes = 256 << 20
            self.engineSeconds = 2
        }
    }
}
