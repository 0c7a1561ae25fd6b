import CConveyor

/// A snapshot of a latency distribution in nanoseconds: log-linear buckets (HDR-like),
/// percentiles within 1/128 of the true value.
///
/// Snapshots come from ``RecorderSet/histogram(_:)`` or ``Recorder/histogram(_:)`` (merged
/// over threads on read), or are filled directly with ``record(_:)``.
///
/// ```swift
/// var latency = LatencyHistogram()
/// for value: UInt64 in [1_200, 1_350, 2_000, 95_000] { latency.record(value) }
/// print(latency.count, latency.p50, latency.p99, latency.max)   // 4 1351 95_000 95_000
/// let total = latency.merging(otherWorkerLatency)
/// ```
///
/// Layout: values 0…255 ns have a bucket each (exact); above that every power of two is
/// split into 128 equal buckets, so no bucket is wider than 1/128 of its values. Values of
/// ``limit`` (2^43 ns, about 2 h 26 min) and above are counted in one overflow bucket
/// (``overflowCount``); ``max`` stays exact for them.
///
/// Percentiles report the highest value of their bucket, clamped to `min…max`, so they never
/// understate: for a true value `v` the result `r` satisfies `v <= r < v * (1 + 1/128)`.
public struct LatencyHistogram: Sendable, Equatable, CustomStringConvertible {
    /// Relative precision of percentiles: the result exceeds the true value by less than
    /// this fraction of it (exact below 256 ns).
    public static let relativePrecision: Double = 1.0 / Double(CNV_HISTOGRAM_SUB_BUCKETS)

    /// The first value counted as overflow: 2^43 ns (≈ 8,796 s).
    public static let limit: UInt64 = CNV_HISTOGRAM_LIMIT

    /// Number of buckets, the overflow bucket included.
    static let bucketCount = Int(CNV_HISTOGRAM_BUCKET_COUNT)
    static let overflowBucket = Int(CNV_HISTOGRAM_REGULAR_BUCKETS)

    /// Number of values recorded.
    public private(set) var count: UInt64
    /// Sum of the values recorded (saturates at `UInt64.max`).
    public private(set) var sum: UInt64
    /// Largest value recorded (0 when empty).
    public private(set) var max: UInt64
    private var storedMinimum: UInt64
    /// Counts per bucket; `bucketCount` entries.
    private(set) var buckets: [UInt64]

    /// An empty histogram.
    public init() {
        self.count = 0
        self.sum = 0
        self.max = 0
        self.storedMinimum = .max
        self.buckets = [UInt64](repeating: 0, count: Self.bucketCount)
    }

    /// A histogram filled by `fill`, which receives an empty C snapshot over the buckets.
    init(filling fill: (UnsafeMutablePointer<cnv_histogram_snapshot>) -> Void) {
        var snapshot = cnv_histogram_snapshot()
        let buckets = [UInt64](unsafeUninitializedCapacity: Self.bucketCount) { buffer, initialized in
            snapshot.buckets = buffer.baseAddress
            cnv_histogram_snapshot_clear(&snapshot)
            fill(&snapshot)
            initialized = Self.bucketCount
        }
        self.count = snapshot.count
        self.sum = snapshot.sum
        self.max = snapshot.max
        self.storedMinimum = snapshot.min
        self.buckets = buckets
    }

    /// Whether no value was recorded.
    public var isEmpty: Bool { self.count == 0 }

    /// Smallest value recorded (0 when empty).
    public var min: UInt64 { self.count == 0 ? 0 : self.storedMinimum }

    /// Mean of the values recorded (0 when empty).
    public var mean: Double { self.count == 0 ? 0 : Double(self.sum) / Double(self.count) }

    /// Values at or above ``limit``, counted in the overflow bucket.
    public var overflowCount: UInt64 { self.buckets[Self.overflowBucket] }

    /// Records one value (nanoseconds) into this snapshot.
    public mutating func record(_ value: UInt64) {
        self.buckets[Int(cnv_histogram_bucket_index(value))] += 1
        self.count += 1
        let (sum, overflowed) = self.sum.addingReportingOverflow(value)
        self.sum = overflowed ? .max : sum
        self.storedMinimum = Swift.min(self.storedMinimum, value)
        self.max = Swift.max(self.max, value)
    }

    /// The value at `percentile` (0…100, clamped): the smallest recorded value with at least
    /// `percentile` % of the values at or below it, to within ``relativePrecision`` (rounded
    /// up to its bucket's highest value). 0 when empty.
    public func percentile(_ percentile: Double) -> UInt64 {
        guard self.count > 0 else { return 0 }
        return self.buckets.withUnsafeBufferPointer { buffer in
            var snapshot = self.cSnapshot(buckets: buffer)
            return cnv_histogram_snapshot_percentile(&snapshot, percentile)
        }
    }

    /// The median.
    public var p50: UInt64 { self.percentile(50) }
    /// The 95th percentile.
    public var p95: UInt64 { self.percentile(95) }
    /// The 99th percentile.
    public var p99: UInt64 { self.percentile(99) }
    /// The 99.9th percentile.
    public var p999: UInt64 { self.percentile(99.9) }

    /// This histogram and `other` together, as if one histogram had recorded both.
    public func merging(_ other: LatencyHistogram) -> LatencyHistogram {
        var merged = self
        merged.merge(other)
        return merged
    }

    /// Adds `other`'s values to this histogram.
    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        self.buckets.withUnsafeMutableBufferPointer { mine in
            other.buckets.withUnsafeBufferPointer { theirs in
                for index in 0..<Self.bucketCount { mine[index] &+= theirs[index] }
            }
        }
        self.count &+= other.count
        let (sum, overflowed) = self.sum.addingReportingOverflow(other.sum)
        self.sum = overflowed ? .max : sum
        self.storedMinimum = Swift.min(self.storedMinimum, other.storedMinimum)
        self.max = Swift.max(self.max, other.max)
    }

    /// The values recorded since `earlier`, an older snapshot of the same source (recorders
    /// only grow, so a profiling interval is the difference of two snapshots). The interval's
    /// `min` and `max` come from its buckets (within ``relativePrecision``, and within this
    /// snapshot's `min…max`).
    public func subtracting(_ earlier: LatencyHistogram) -> LatencyHistogram {
        var interval = LatencyHistogram()
        var count: UInt64 = 0
        var lowest = -1
        var highest = -1
        interval.buckets.withUnsafeMutableBufferPointer { result in
            self.buckets.withUnsafeBufferPointer { now in
                earlier.buckets.withUnsafeBufferPointer { before in
                    for index in 0..<Self.bucketCount {
                        let difference = now[index] > before[index] ? now[index] - before[index] : 0
                        result[index] = difference
                        count += difference
                        if difference > 0 {
                            if lowest < 0 { lowest = index }
                            highest = index
                        }
                    }
                }
            }
        }
        guard count > 0 else { return interval }
        interval.count = count
        interval.sum = self.sum > earlier.sum ? self.sum - earlier.sum : 0
        interval.storedMinimum = Swift.max(self.storedMinimum, cnv_histogram_bucket_lowest(UInt32(lowest)))
        interval.max = highest == Self.overflowBucket
            ? self.max : Swift.min(self.max, cnv_histogram_bucket_highest(UInt32(highest)))
        return interval
    }

    /// The non-empty buckets in increasing order: the values each covers and its count
    /// (for reports and HDR-style percentile plots).
    public var nonEmptyBuckets: [(values: ClosedRange<UInt64>, count: UInt64)] {
        self.buckets.indices.compactMap { index in
            let count = self.buckets[index]
            guard count > 0 else { return nil }
            return (Self.bucketRange(ofBucket: index), count)
        }
    }

    /// The values that share a bucket with `value` (they are indistinguishable in a histogram).
    public static func bucketRange(containing value: UInt64) -> ClosedRange<UInt64> {
        Self.bucketRange(ofBucket: Int(cnv_histogram_bucket_index(value)))
    }

    static func bucketRange(ofBucket index: Int) -> ClosedRange<UInt64> {
        cnv_histogram_bucket_lowest(UInt32(index))...cnv_histogram_bucket_highest(UInt32(index))
    }

    public var description: String {
        guard self.count > 0 else { return "LatencyHistogram(empty)" }
        return "LatencyHistogram(count: \(self.count), min: \(self.min) ns, p50: \(self.p50) ns, "
            + "p95: \(self.p95) ns, p99: \(self.p99) ns, p99.9: \(self.p999) ns, max: \(self.max) ns)"
    }

    private func cSnapshot(buckets: UnsafeBufferPointer<UInt64>) -> cnv_histogram_snapshot {
        // The C side takes this snapshot as `const` and never writes through `buckets`.
        cnv_histogram_snapshot(
            count: self.count, sum: self.sum, min: self.storedMinimum, max: self.max,
            buckets: UnsafeMutablePointer(mutating: buckets.baseAddress))
    }
}
