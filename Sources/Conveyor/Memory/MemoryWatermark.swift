/// A memory threshold that calls back when a figure rises above it and again when it falls
/// back below it, added with ``MemoryOptimizer/addWatermark(bytes:metric:hysteresis:onChange:)``.
///
/// ```swift
/// let optimizer = MemoryOptimizer()
/// let token = try optimizer.addWatermark(bytes: 512 << 20, metric: .residentSetSize) { event in
///     if case .crossed = event { cache.shrink() }
/// }
/// try optimizer.startMonitoring(interval: .seconds(1))
/// ```
///
/// **Hysteresis.** ``MemoryWatermark/Event/crossed(value:)`` fires once when the value is
/// above ``bytes``; ``MemoryWatermark/Event/cleared(value:)`` fires once when it is below
/// ``clearBelow`` = `bytes × (1 − hysteresis)`. A value hovering around `bytes` therefore
/// fires no storm of events. A watermark starts "below": if the first check finds the value
/// above, `.crossed` fires then.
public struct MemoryWatermark: Sendable, Hashable {
    /// The figure watched.
    public enum Metric: String, Sendable, Hashable, CaseIterable {
        /// ``MemoryMetrics/residentSetSize``.
        case residentSetSize
        /// ``MemoryMetrics/heapAllocated``.
        case heapAllocated
    }

    /// What happened at a check.
    public enum Event: Sendable, Hashable {
        /// The value rose above the watermark.
        case crossed(value: Int)
        /// The value fell below ``MemoryWatermark/clearBelow`` after a crossing.
        case cleared(value: Int)
    }

    public var bytes: Int
    public var metric: Metric
    /// Fraction of ``bytes`` the value must fall below the watermark to clear it (0 ..< 1).
    public var hysteresis: Double

    /// `.cleared` fires when the value is below this.
    public var clearBelow: Int {
        self.bytes - Int((Double(self.bytes) * self.hysteresis).rounded(.down))
    }
}
