extension PerformanceMetrics {
    /// Queue wait (submit to handler start) and service time (handler start to end) over all
    /// groups; per-group figures are in ``PerformanceMetrics/groups``.
    ///
    /// ```swift
    /// let latency = profiler.metrics().latency
    /// print(latency.queueWait.p50, latency.queueWait.p99, latency.serviceTime.p999)
    /// ```
    public struct Latency: Sendable, Equatable, Codable {
        /// Submit to handler start, nanoseconds.
        public var queueWait: LatencySummary
        /// Handler start to end, nanoseconds.
        public var serviceTime: LatencySummary
    }
}
