extension Router {
    /// How a kind is routed before it has enough samples for a learned service time.
    ///
    /// Until a kind has `minimumSamples` samples, the router does not trust its average and
    /// ``RoutingRule/Condition/serviceTime(above:)`` / `below:` conditions are decided this way:
    /// - with `usesCostEstimate` and a task that carries a cost estimate, the estimate stands in
    ///   for the service time (compared without hysteresis);
    /// - otherwise the condition cannot be decided: a rule that would match but for it sends the
    ///   task to `defaultGroup`, or, when `defaultGroup` is `nil`, is skipped.
    ///
    /// Rules on kind, tags and cost apply to cold kinds as usual, in order.
    ///
    /// ```swift
    /// // Unknown kinds go to "io" until 50 runs have been seen, unless the submitter says
    /// // how long the task will take.
    /// let coldStart = Router.ColdStart(minimumSamples: 50, usesCostEstimate: true, defaultGroup: "io")
    /// ```
    public struct ColdStart: Sendable, Hashable {
        /// Samples a kind needs before its learned service time is used (at least 1).
        public var minimumSamples: Int
        /// Whether a task's cost estimate stands in for a cold kind's service time.
        public var usesCostEstimate: Bool
        /// Where a task goes when a service-time rule cannot be decided for its cold kind;
        /// `nil` skips such rules.
        public var defaultGroup: String?

        /// - Parameters:
        ///   - minimumSamples: samples before the learned service time is used; default 20.
        ///   - usesCostEstimate: let a task's cost estimate stand in meanwhile; default `true`.
        ///   - defaultGroup: the group for undecidable cold tasks; default `nil` (skip the rule).
        public init(minimumSamples: Int = 20, usesCostEstimate: Bool = true, defaultGroup: String? = nil) {
            self.minimumSamples = minimumSamples
            self.usesCostEstimate = usesCostEstimate
            self.defaultGroup = defaultGroup
        }
    }
}
