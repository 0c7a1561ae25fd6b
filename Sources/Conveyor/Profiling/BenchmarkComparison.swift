/// One context's figures against a saved baseline, from ``PerformanceProfiler/compareWithBaseline(threshold:)``.
///
/// The verdict follows the median (p50): more than `threshold` (default 5 %) above the
/// baseline's is ``Verdict/slower``, more than `threshold` below is ``Verdict/faster``,
/// otherwise ``Verdict/unchanged``. Percentiles are within 1/128 (0.8 %) of the true value,
/// well inside the default threshold.
///
/// ```swift
/// for comparison in try profiler.compareWithBaseline() where comparison.verdict == .slower {
///     print(comparison)   // decode: p50 1.20 µs → 1.34 µs (+11.7 %), p99 …, slower
/// }
/// ```
public struct BenchmarkComparison: Sendable, Equatable, Codable, CustomStringConvertible {
    /// How the context compares with its baseline.
    public enum Verdict: String, Sendable, Equatable, Codable {
        /// The median fell by more than the threshold.
        case faster
        /// The median rose by more than the threshold.
        case slower
        /// The median moved by at most the threshold.
        case unchanged
        /// The baseline or the current figures have no calls for this context.
        case noData
    }

    /// The context name.
    public var context: String
    /// Its figures in the baseline (`nil` when the baseline does not hold it).
    public var baseline: ContextSummary?
    /// Its figures since the baseline was saved (or since the profiler started, for a loaded one).
    public var current: ContextSummary?
    /// Relative change of the median: `(current − baseline) ÷ baseline` (`0.12` = 12 % slower).
    public var medianChange: Double?
    /// Relative change of the 99th percentile.
    public var p99Change: Double?
    /// Relative change of the mean.
    public var meanChange: Double?
    /// The relative change of the median beyond which a context counts as faster or slower.
    public var threshold: Double
    /// Faster, slower, unchanged, or no data.
    public var verdict: Verdict

    init(context: String, baseline: ContextSummary?, current: ContextSummary?, threshold: Double) {
        self.context = context
        self.baseline = baseline
        self.current = current
        self.threshold = threshold
        func change(_ now: Double, _ before: Double) -> Double? {
            before > 0 ? (now - before) / before : nil
        }
        if let baseline, let current, baseline.calls > 0, current.calls > 0 {
            self.medianChange = change(Double(current.duration.p50), Double(baseline.duration.p50))
            self.p99Change = change(Double(current.duration.p99), Double(baseline.duration.p99))
            self.meanChange = change(current.duration.mean, baseline.duration.mean)
            let median = self.medianChange ?? (current.duration.p50 > 0 ? Double.infinity : 0)
            self.verdict = median > threshold ? .slower : median < -threshold ? .faster : .unchanged
        } else {
            self.verdict = .noData
        }
    }

    public var description: String {
        guard let baseline, let current, self.verdict != .noData else {
            return "\(self.context): no data to compare (baseline \(self.baseline?.calls ?? 0) calls, now \(self.current?.calls ?? 0) calls)"
        }
        let before = baseline.duration
        let now = current.duration
        return "\(self.context): p50 \(ReportText.duration(nanoseconds: before.p50)) → \(ReportText.duration(nanoseconds: now.p50)) "
            + "(\(ReportText.change(self.medianChange))), p99 \(ReportText.duration(nanoseconds: before.p99)) → "
            + "\(ReportText.duration(nanoseconds: now.p99)) (\(ReportText.change(self.p99Change))), "
            + "mean \(ReportText.change(self.meanChange)): \(self.verdict.rawValue) "
            + "(threshold ±\(ReportText.change(self.threshold).dropFirst()))"
    }
}
