import BenchSupport

/// One child process's figures for one (allocator, workload, run); also the type of the
/// per-field medians. Only the fields of the sample's workload are set; the others are nil.
///
/// Units are in the names: `…Bytes` are bytes, `…Nanoseconds` nanoseconds, `…Seconds`
/// seconds, `…PerSecond`/`…Rate` per second, `…Percent` percent of one core.
///
/// ```swift
/// let sample = try JSONDecoder().decode(AllocatorSample.self, from: line)
/// print(sample.nanosecondsPerOperation ?? .nan, sample.peakResidentBytes)
/// ```
struct AllocatorSample: Codable, Sendable, Equatable {
    // MARK: Every workload

    /// The allocator the child found behind `malloc` (`glibc`, `jemalloc`, `mimalloc`,
    /// `tcmalloc`; the slab contender runs on glibc) and the file that defines `malloc`.
    var mallocIdentity: String
    var mallocProvider: String
    /// The allocator's version as its own call reports it (glibc: `gnu_get_libc_version()`).
    var allocatorVersion: String
    /// Resident set size when the workload began (the child's start-up included), bytes.
    var startResidentBytes: Int
    /// Peak resident set size of the child process (`VmHWM` when the workload ended), bytes.
    var peakResidentBytes: Int
    /// Wall time of the measured part, seconds (churn and producer/consumer: the operations;
    /// burst: allocating + freeing; engine: the measured window until the last completion).
    var measuredSeconds: Double

    // MARK: churn, producer-consumer

    /// Operations measured: churn, one free + one allocation; producer/consumer, one block
    /// allocated by the producer and freed by the consumer.
    var operations: Int?
    var nanosecondsPerOperation: Double?
    var operationsPerSecond: Double?
    /// Must be 0. Churn and burst: blocks whose contents did not survive while live (the
    /// allocator handed out overlapping memory); producer/consumer: blocks out of order or
    /// lost; engine: tasks submitted but not completed.
    var damagedBlocks: Int?

    // MARK: burst

    /// Blocks allocated and their requested bytes.
    var burstBlocks: Int?
    var burstBytes: Int?
    /// Requested bytes still allocated after 3 of 4 blocks were freed.
    var liveBytes: Int?
    /// RSS right before the burst (after the release step), with every block allocated and
    /// written, after the partial free, after freeing the rest, and after the release step.
    var residentBeforeBurstBytes: Int?
    var residentAtPeakBytes: Int?
    var residentAfterPartialFreeBytes: Int?
    var residentAfterFreeAllBytes: Int?
    var residentAfterReleaseBytes: Int?
    /// (residentAfterPartialFreeBytes − residentBeforeBurstBytes) ÷ liveBytes: RAM taken per
    /// live byte (1 = none wasted).
    var fragmentation: Double?
    /// residentAfterFreeAllBytes − residentAfterReleaseBytes: what the `releaseMemory()`-equivalent
    /// release step returned to the OS, bytes.
    var releasedBytes: Int?
    /// Resident bytes the allocator marked free with MADV_FREE (`LazyFree` in
    /// /proc/self/smaps_rollup): still counted in RSS, taken back by the kernel only under
    /// memory pressure. After the partial free and after the release step.
    var lazyFreeAfterPartialFreeBytes: Int?
    var lazyFreeAfterReleaseBytes: Int?
    /// Whether the release call existed and reported success.
    var releaseSucceeded: Bool?

    // MARK: engine

    /// Arrivals requested, tasks/s, and what the engine sustained: measured tasks ÷ (first
    /// measured scheduled time → last completion), tasks/s.
    var targetRate: Double?
    var tasksPerSecond: Double?
    /// Submit → handler start (from the scheduled time), nearest-rank, nanoseconds.
    var latencyP50Nanoseconds: Double?
    var latencyP99Nanoseconds: Double?
    /// getrusage(RUSAGE_SELF) user + sys over the measured window, the generator thread's own
    /// CPU (CLOCK_THREAD_CPUTIME_ID; it spins), and the difference: the engine's CPU.
    var processCPUPercent: Double?
    var generatorCPUPercent: Double?
    var engineCPUPercent: Double?

    init(mallocIdentity: String, mallocProvider: String, allocatorVersion: String, startResidentBytes: Int) {
        self.mallocIdentity = mallocIdentity
        self.mallocProvider = mallocProvider
        self.allocatorVersion = allocatorVersion
        self.startResidentBytes = startResidentBytes
        self.peakResidentBytes = startResidentBytes
        self.measuredSeconds = 0
    }

    /// Every numeric field the median over `samples` (of the samples that have it; an even
    /// count takes the mean of the two middle values, byte counts rounded); texts from the first.
    static func median(of samples: [AllocatorSample]) -> AllocatorSample {
        precondition(!samples.isEmpty)
        var result = samples[0]
        func middle(_ field: WritableKeyPath<AllocatorSample, Double?>) {
            let values = samples.compactMap { $0[keyPath: field] }
            result[keyPath: field] = values.isEmpty ? nil : values.median
        }
        func middle(_ field: WritableKeyPath<AllocatorSample, Int?>) {
            let values = samples.compactMap { $0[keyPath: field] }.map(Double.init)
            result[keyPath: field] = values.isEmpty ? nil : Int(values.median.rounded())
        }
        result.startResidentBytes = Int(samples.map { Double($0.startResidentBytes) }.median.rounded())
        result.peakResidentBytes = Int(samples.map { Double($0.peakResidentBytes) }.median.rounded())
        result.measuredSeconds = samples.map(\.measuredSeconds).median
        for field in [\AllocatorSample.operations, \.damagedBlocks, \.burstBlocks, \.burstBytes, \.liveBytes,
                      \.residentBeforeBurstBytes, \.residentAtPeakBytes, \.residentAfterPartialFreeBytes,
                      \.residentAfterFreeAllBytes, \.residentAfterReleaseBytes, \.releasedBytes,
                      \.lazyFreeAfterPartialFreeBytes, \.lazyFreeAfterReleaseBytes] {
            middle(field)
        }
        for field in [\AllocatorSample.nanosecondsPerOperation, \.operationsPerSecond, \.fragmentation, \.targetRate,
                      \.tasksPerSecond, \.latencyP50Nanoseconds, \.latencyP99Nanoseconds, \.processCPUPercent,
                      \.generatorCPUPercent, \.engineCPUPercent] {
            middle(field)
        }
        // Damage anywhere counts: the worst run, not the median.
        result.damagedBlocks = samples.compactMap(\.damagedBlocks).max()
        let released = samples.compactMap(\.releaseSucceeded)
        result.releaseSucceeded = released.isEmpty ? nil : released.allSatisfy { $0 }
        return result
    }
}
