import BenchSupport

/// One allocator's figures against glibc's, for one workload: the median over runs of the
/// per-run ratio (run i of this allocator against run i of glibc, which ran next to it).
/// **Every ratio is oriented so that > 1 means better than glibc**: faster, smaller, less
/// fragmented, more memory returned, more tasks/s, lower latency, less CPU. A field is nil
/// when the workload does not have the figure or a value was not positive.
///
/// ```swift
/// if let speed = result.ratiosToGlibc.speed { print("\(speed)× glibc") }  // 2.4× = 2.4 times as fast
/// ```
struct AllocatorRatios: Codable, Sendable, Equatable {
    /// glibc ns/op ÷ this ns/op (churn, producer-consumer).
    var speed: Double?
    /// glibc peak RSS ÷ this peak RSS (every workload).
    var peakResident: Double?
    /// glibc fragmentation ÷ this fragmentation (burst).
    var fragmentation: Double?
    /// This allocator's released bytes ÷ glibc's (burst).
    var released: Double?
    /// This tasks/s ÷ glibc tasks/s (engine).
    var tasksPerSecond: Double?
    /// glibc p99 latency ÷ this p99 (engine).
    var latencyP99: Double?
    /// glibc engine CPU ÷ this engine CPU (engine).
    var engineCPU: Double?

    init() {}

    /// The ratios of `samples` against `glibc` (both in run order).
    init(_ samples: [AllocatorSample], glibc: [AllocatorSample]) {
        func lowerIsBetter(_ field: KeyPath<AllocatorSample, Double?>) -> Double? {
            Self.paired(samples, glibc) { mine, peer in
                guard let mine = mine[keyPath: field], let peer = peer[keyPath: field] else { return nil }
                return (mine, peer)
            }
        }
        func higherIsBetter(_ field: KeyPath<AllocatorSample, Double?>) -> Double? {
            Self.paired(samples, glibc) { mine, peer in
                guard let mine = mine[keyPath: field], let peer = peer[keyPath: field] else { return nil }
                return (peer, mine)
            }
        }
        self.speed = lowerIsBetter(\.nanosecondsPerOperation)
        self.peakResident = Self.paired(samples, glibc) { (Double($0.peakResidentBytes), Double($1.peakResidentBytes)) }
        self.fragmentation = lowerIsBetter(\.fragmentation)
        self.released = Self.paired(samples, glibc) { mine, peer in
            guard let mine = mine.releasedBytes, let peer = peer.releasedBytes else { return nil }
            return (Double(peer), Double(mine))
        }
        self.tasksPerSecond = higherIsBetter(\.tasksPerSecond)
        self.latencyP99 = lowerIsBetter(\.latencyP99Nanoseconds)
        self.engineCPU = lowerIsBetter(\.engineCPUPercent)
    }

    /// Median over runs of glibc's value ÷ this one's, where `values` gives (this, glibc) for
    /// a lower-is-better figure; higher-is-better figures pass them swapped.
    private static func paired(
        _ samples: [AllocatorSample], _ glibc: [AllocatorSample],
        _ values: (AllocatorSample, AllocatorSample) -> (Double, Double)?
    ) -> Double? {
        let ratios = zip(samples, glibc).compactMap { pair -> Double? in
            guard let (mine, peer) = values(pair.0, pair.1), mine > 0, peer > 0 else { return nil }
            return peer / mine
        }
        return ratios.isEmpty ? nil : ratios.median
    }
}
