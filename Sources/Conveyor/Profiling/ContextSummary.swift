/// What ``PerformanceProfiler/profile(_:context:)`` recorded under one context name.
///
/// ```swift
/// let decode = try profiler.summary(for: "decode")
/// print(decode.calls, decode.duration.p99, decode.errors)
/// ```
public struct ContextSummary: Sendable, Equatable, Codable {
    /// The context name.
    public var context: String
    /// Operations recorded (those that threw included).
    public var calls: UInt64
    /// Operations that threw.
    public var errors: UInt64
    /// How long the operations took, nanoseconds.
    public var duration: LatencySummary

    /// A summary from its parts.
    public init(context: String, calls: UInt64, errors: UInt64, duration: LatencySummary) {
        self.context = context
        self.calls = calls
        self.errors = errors
        self.duration = duration
    }

    /// The summary of a context's recorder snapshot (``RecorderLayout/profilingContext``).
    init(context: String, snapshot: RecorderSnapshot) {
        let histogram = snapshot.histograms[0]
        self.init(
            context: context, calls: histogram.count, errors: snapshot.counters[0],
            duration: LatencySummary(histogram))
    }
}
