extension Router {
    /// What a router has learned about one kind (see ``Router/status(of:)``).
    ///
    /// ```swift
    /// if let status = router.status(of: "parse") {
    ///     print(status.serviceTime ?? .zero, status.isWarm, status.thresholdCrossings)
    /// }
    /// ```
    struct KindStatus: Sendable, Hashable {
        /// The kind's name.
        let kind: String
        /// The learned service time (EWMA), or `nil` before the first published sample.
        let serviceTime: Duration?
        /// Samples merged so far.
        let sampleCount: Int
        /// Whether the kind has left cold start, so service-time rules use its average.
        let isWarm: Bool
        /// How many times the kind has switched side of a service-time threshold since it
        /// warmed up (each switch may change its group).
        let thresholdCrossings: Int
        /// The group every task of the kind goes to right now, or `nil` when the decision
        /// depends on each task's tags or cost estimate.
        let cachedGroup: Int?
    }
}
