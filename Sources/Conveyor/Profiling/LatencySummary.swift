/// The figures of a latency distribution, in nanoseconds: count, mean and the percentiles of
/// a ``LatencyHistogram`` (each within ``LatencyHistogram/relativePrecision`` above the true
/// value), ready to print or encode.
///
/// ```swift
/// let summary = LatencySummary(conveyor.statistics[0].serviceTime)
/// print(summary.p99, summary.max)
/// ```
public struct LatencySummary: Sendable, Equatable, Codable {
    /// Values recorded.
    public var count: UInt64
    /// Mean value (0 when empty).
    public var mean: Double
    /// Smallest value.
    public var min: UInt64
    /// Median.
    public var p50: UInt64
    /// 95th percentile.
    public var p95: UInt64
    /// 99th percentile.
    public var p99: UInt64
    /// 99.9th percentile.
    public var p999: UInt64
    /// Largest value.
    public var max: UInt64

    /// The figures of `histogram`.
    public init(_ histogram: LatencyHistogram) {
        self.count = histogram.count
        self.mean = histogram.mean
        self.min = histogram.min
        self.p50 = histogram.p50
        self.p95 = histogram.p95
        self.p99 = histogram.p99
        self.p999 = histogram.p999
        self.max = histogram.max
    }

    /// No values.
    public static let empty = LatencySummary(LatencyHistogram())

    /// The cells of a text table row: count, mean, p50, p95, p99, p99.9, max.
    var cells: [String] {
        guard self.count > 0 else { return ["0", "—", "—", "—", "—", "—", "—"] }
        return ["\(self.count)", ReportText.duration(nanoseconds: self.mean)]
            + [self.p50, self.p95, self.p99, self.p999, self.max].map { ReportText.duration(nanoseconds: $0) }
    }

    static let headers = ["count", "mean", "p50", "p95", "p99", "p99.9", "max"]
}
