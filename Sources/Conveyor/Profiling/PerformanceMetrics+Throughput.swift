extension PerformanceMetrics {
    /// Tasks run (completed + failed) per second, overall and broken down.
    ///
    /// ```swift
    /// let throughput = profiler.metrics().throughput
    /// print(throughput.overall, throughput.perGroup["cpu"] ?? 0, throughput.perKind["resize"] ?? 0)
    /// ```
    public struct Throughput: Sendable, Equatable, Codable {
        /// Over all groups.
        public var overall: Double
        /// By group name.
        public var perGroup: [String: Double]
        /// By task kind (empty unless the engine counts kinds).
        public var perKind: [String: Double]
    }
}
