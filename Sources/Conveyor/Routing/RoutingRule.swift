/// One routing rule: when every condition holds for a task, the task goes to `group`.
///
/// A ``Router`` tries its rules in order and the first rule that matches wins; a task that
/// matches none goes to the fallback group. A rule with no conditions matches every task.
///
/// ```swift
/// let rules = [
///     RoutingRule(when: .kind("thumbnail"), .tagsContainAny(["gpu"]), to: "gpu"),
///     RoutingRule(when: .kindPrefix("report."), to: "batch"),
///     RoutingRule(when: .costEstimate(above: .milliseconds(50)), to: "slow"),
///     RoutingRule(when: .serviceTime(above: .milliseconds(1)), to: "io"),  // learned per kind
/// ]
/// ```
public struct RoutingRule: Sendable, Hashable, CustomStringConvertible {
    /// A condition on a task. `above:` is strictly greater; `below:` is its complement
    /// (at most), so for one threshold a task always meets exactly one of the pair.
    ///
    /// ```swift
    /// let slow: RoutingRule.Condition = .serviceTime(above: .milliseconds(1))
    /// ```
    public struct Condition: Sendable, Hashable, CustomStringConvertible {
        /// The conditions, spelled as cases (the public spellings share base names, which a
        /// `switch` cannot tell apart).
        enum Storage: Sendable, Hashable {
            case kind(String)
            case kindPrefix(String)
            case tagsContainAll(Set<String>)
            case tagsContainAny(Set<String>)
            case costAbove(Duration)
            case costAtMost(Duration)
            case serviceTimeAbove(Duration)
            case serviceTimeAtMost(Duration)
        }

        let storage: Storage

        /// The task's kind is exactly this name.
        public static func kind(_ name: String) -> Condition { Condition(storage: .kind(name)) }

        /// The task's kind starts with this prefix (for example `"report."`).
        public static func kindPrefix(_ prefix: String) -> Condition { Condition(storage: .kindPrefix(prefix)) }

        /// The task carries every one of these tags.
        public static func tagsContainAll(_ tags: Set<String>) -> Condition { Condition(storage: .tagsContainAll(tags)) }

        /// The task carries at least one of these tags.
        public static func tagsContainAny(_ tags: Set<String>) -> Condition { Condition(storage: .tagsContainAny(tags)) }

        /// The submitter's cost estimate is greater than `threshold`. A task without an
        /// estimate does not meet it.
        public static func costEstimate(above threshold: Duration) -> Condition { Condition(storage: .costAbove(threshold)) }

        /// The submitter's cost estimate is at most `threshold`. A task without an estimate
        /// does not meet it.
        public static func costEstimate(below threshold: Duration) -> Condition { Condition(storage: .costAtMost(threshold)) }

        /// The kind's learned service time (an EWMA of observed run times) is above
        /// `threshold`, with the router's ``Router/Hysteresis``. See ``Router/ColdStart`` for
        /// kinds that have too few samples yet.
        public static func serviceTime(above threshold: Duration) -> Condition {
            Condition(storage: .serviceTimeAbove(threshold))
        }

        /// The kind's learned service time is not above `threshold`, with hysteresis.
        public static func serviceTime(below threshold: Duration) -> Condition {
            Condition(storage: .serviceTimeAtMost(threshold))
        }

        public var description: String {
            switch self.storage {
            case .kind(let name): "kind == \"\(name)\""
            case .kindPrefix(let prefix): "kind starts with \"\(prefix)\""
            case .tagsContainAll(let tags): "tags contain all of \(tags.sorted())"
            case .tagsContainAny(let tags): "tags contain any of \(tags.sorted())"
            case .costAbove(let threshold): "cost estimate > \(threshold)"
            case .costAtMost(let threshold): "cost estimate ≤ \(threshold)"
            case .serviceTimeAbove(let threshold): "service time > \(threshold)"
            case .serviceTimeAtMost(let threshold): "service time ≤ \(threshold)"
            }
        }
    }

    /// The conditions; all of them must hold.
    public let conditions: [Condition]
    /// The name of the group that matching tasks go to.
    public let group: String

    /// A rule that sends tasks meeting all `conditions` to `group`.
    public init(when conditions: [Condition], to group: String) {
        self.conditions = conditions
        self.group = group
    }

    /// A rule that sends tasks meeting all `conditions` to `group`.
    ///
    /// ```swift
    /// RoutingRule(when: .kind("email"), .tagsContainAll(["bulk"]), to: "background")
    /// ```
    public init(when conditions: Condition..., to group: String) {
        self.init(when: conditions, to: group)
    }

    /// A rule with no conditions: every task that reaches it goes to `group`.
    public static func always(to group: String) -> RoutingRule {
        RoutingRule(when: [], to: group)
    }

    public var description: String {
        let when = self.conditions.isEmpty ? "always" : self.conditions.map(\.description).joined(separator: " and ")
        return "\(when) → \(self.group)"
    }
}
