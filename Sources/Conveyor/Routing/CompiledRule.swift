/// A `RoutingRule` prepared for evaluation: group names resolved to indices, conditions on the
/// kind split from conditions on the task, service-time thresholds resolved to bit positions.
struct CompiledRule: Sendable {
    /// A condition on the kind name alone, decided once per kind.
    enum KindTest: Sendable {
        case exact(String)
        case prefix(String)
    }

    /// A condition decided per task (tags, cost) or from the kind's learned state.
    enum TaskTest: Sendable {
        case tagsContainAll([String])
        case tagsContainAny([String])
        case costAbove(Duration)
        case costAtMost(Duration)
        /// `threshold` is the bit of the threshold in the route word; `value` is compared with
        /// the cost estimate while the kind is cold.
        case serviceTimeAbove(threshold: Int, value: Duration)
        case serviceTimeAtMost(threshold: Int, value: Duration)
    }

    /// What a rule's conditions say. Ordered so that the conjunction of several is their
    /// minimum: any `no` makes the rule fail; otherwise a condition that needs the task makes
    /// it undecided until the task is seen; otherwise an undecidable cold service-time
    /// condition makes it `unknown`.
    enum Truth: Int, Comparable, Sendable {
        case no = 0
        case perTask = 1
        case unknown = 2
        case yes = 3

        static func < (lhs: Truth, rhs: Truth) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    let group: Int
    let kindTests: [KindTest]
    let taskTests: [TaskTest]

    /// Whether the kind conditions hold for `kind` (decided once, when the kind is first seen).
    func matches(kind: String) -> Bool {
        self.kindTests.allSatisfy { test in
            switch test {
            case .exact(let name): kind == name
            case .prefix(let prefix): kind.hasPrefix(prefix)
            }
        }
    }

    /// The rule's truth for every task of a kind in state `word`, before any task is seen.
    func truthForAnyTask(word: RouteWord, coldUsesCost: Bool) -> Truth {
        var result = Truth.yes
        for index in self.taskTests.indices {
            let truth: Truth
            switch self.taskTests[index] {
            case .tagsContainAll, .tagsContainAny, .costAbove, .costAtMost:
                truth = .perTask
            case .serviceTimeAbove(let threshold, _):
                truth = word.isWarm ? (word.isAbove(threshold: threshold) ? .yes : .no) : (coldUsesCost ? .perTask : .unknown)
            case .serviceTimeAtMost(let threshold, _):
                truth = word.isWarm ? (word.isAbove(threshold: threshold) ? .no : .yes) : (coldUsesCost ? .perTask : .unknown)
            }
            result = min(result, truth)
            if result == .no { return .no }
        }
        return result
    }

    /// The rule's truth for one task (never `perTask`). Loops over indices: an array iterator
    /// over enum payloads allocates in unoptimized builds.
    func truth(word: RouteWord, tags: Set<String>, costEstimate: Duration?, coldUsesCost: Bool) -> Truth {
        var result = Truth.yes
        for index in self.taskTests.indices {
            let truth: Truth
            switch self.taskTests[index] {
            case .tagsContainAll(let required):
                truth = Self.containsAll(tags, required) ? .yes : .no
            case .tagsContainAny(let wanted):
                truth = Self.containsAny(tags, wanted) ? .yes : .no
            case .costAbove(let threshold):
                if let costEstimate, costEstimate > threshold { truth = .yes } else { truth = .no }
            case .costAtMost(let threshold):
                if let costEstimate, costEstimate <= threshold { truth = .yes } else { truth = .no }
            case .serviceTimeAbove(let threshold, let value):
                if word.isWarm {
                    truth = word.isAbove(threshold: threshold) ? .yes : .no
                } else if coldUsesCost, let costEstimate {
                    truth = costEstimate > value ? .yes : .no
                } else {
                    truth = .unknown
                }
            case .serviceTimeAtMost(let threshold, let value):
                if word.isWarm {
                    truth = word.isAbove(threshold: threshold) ? .no : .yes
                } else if coldUsesCost, let costEstimate {
                    truth = costEstimate <= value ? .yes : .no
                } else {
                    truth = .unknown
                }
            }
            result = min(result, truth)
            if result == .no { return .no }
        }
        return result
    }

    // Index loops, no closures: these run per task and must not allocate, even unoptimized.
    private static func containsAll(_ tags: Set<String>, _ required: [String]) -> Bool {
        for index in required.indices where !tags.contains(required[index]) { return false }
        return true
    }

    private static func containsAny(_ tags: Set<String>, _ wanted: [String]) -> Bool {
        for index in wanted.indices where tags.contains(wanted[index]) { return true }
        return false
    }
}
