extension Router {
    /// Checks the group names; returns name → index.
    static func validateGroups(_ groups: [String]) throws(ConveyorError) -> [String: Int] {
        guard !groups.isEmpty else {
            throw .invalidConfiguration(
                reason: "a Router needs at least one group; pass the ResourceGroup names, for example groups: [\"default\"]"
            )
        }
        guard groups.count <= RouteWord.maximumGroups else {
            throw .invalidConfiguration(reason: "\(groups.count) groups is more than a Router supports; use at most \(RouteWord.maximumGroups)")
        }
        var indices: [String: Int] = [:]
        for (index, name) in groups.enumerated() {
            guard !name.isEmpty else {
                throw .invalidConfiguration(reason: "group \(index) has an empty name; give every group a non-empty name")
            }
            guard indices.updateValue(index, forKey: name) == nil else {
                throw .invalidConfiguration(reason: "group \"\(name)\" is listed twice in groups; group names must be unique")
            }
        }
        return indices
    }

    /// The index of a group named in the configuration (`role` says where it was named).
    static func index(of name: String, in indices: [String: Int], groups: [String], role: String) throws(ConveyorError) -> Int {
        guard let index = indices[name] else {
            throw .invalidConfiguration(
                reason: "\(role) \"\(name)\" is not one of the groups \(groups); add it to groups or name one of them"
            )
        }
        return index
    }

    static func validate(coldStart: ColdStart, hysteresis: Hysteresis) throws(ConveyorError) {
        guard coldStart.minimumSamples >= 1 else {
            throw .invalidConfiguration(
                reason: "cold-start minimumSamples \(coldStart.minimumSamples) must be at least 1; use 20 to trust a kind's service time after 20 runs"
            )
        }
        guard hysteresis.margin.isFinite, hysteresis.margin >= 0, hysteresis.margin < 1 else {
            throw .invalidConfiguration(
                reason: "hysteresis margin \(hysteresis.margin) must be in [0, 1); use 0.2 to switch 20 % beyond a threshold, or 0 for no band"
            )
        }
        guard hysteresis.minimumDwell >= .zero else {
            throw .invalidConfiguration(
                reason: "hysteresis minimumDwell \(hysteresis.minimumDwell) is negative; use .zero to switch at the first publish beyond the band, or for example .milliseconds(100)"
            )
        }
    }

    /// Checks the rules and prepares them for evaluation; also returns the distinct
    /// service-time thresholds (nanoseconds) in order of first use.
    static func compile(
        rules: [RoutingRule],
        groupIndices: [String: Int],
        groups: [String]
    ) throws(ConveyorError) -> (rules: [CompiledRule], thresholds: [Double]) {
        var compiled: [CompiledRule] = []
        var thresholds: [Duration] = []
        for (number, rule) in rules.enumerated() {
            let name = "rule \(number) (\(rule))"
            let group = try Self.index(of: rule.group, in: groupIndices, groups: groups, role: "\(name): target group")
            var kindTests: [CompiledRule.KindTest] = []
            var taskTests: [CompiledRule.TaskTest] = []
            for condition in rule.conditions {
                switch condition.storage {
                case .kind(let kind):
                    guard !kind.isEmpty else {
                        throw .invalidConfiguration(reason: "\(name): .kind(\"\") never matches; name the kind")
                    }
                    kindTests.append(.exact(kind))
                case .kindPrefix(let prefix):
                    guard !prefix.isEmpty else {
                        throw .invalidConfiguration(reason: "\(name): .kindPrefix(\"\") matches every kind; drop the condition or give a prefix")
                    }
                    kindTests.append(.prefix(prefix))
                case .tagsContainAll(let tags):
                    guard !tags.isEmpty else {
                        throw .invalidConfiguration(reason: "\(name): .tagsContainAll([]) matches every task; drop the condition or list a tag")
                    }
                    taskTests.append(.tagsContainAll(tags.sorted()))
                case .tagsContainAny(let tags):
                    guard !tags.isEmpty else {
                        throw .invalidConfiguration(reason: "\(name): .tagsContainAny([]) never matches; list at least one tag")
                    }
                    taskTests.append(.tagsContainAny(tags.sorted()))
                case .costAbove(let threshold):
                    try Self.checkCost(threshold, in: name)
                    taskTests.append(.costAbove(threshold))
                case .costAtMost(let threshold):
                    try Self.checkCost(threshold, in: name)
                    taskTests.append(.costAtMost(threshold))
                case .serviceTimeAbove(let threshold):
                    let bit = try Self.thresholdBit(threshold, in: name, thresholds: &thresholds)
                    taskTests.append(.serviceTimeAbove(threshold: bit, value: threshold))
                case .serviceTimeAtMost(let threshold):
                    let bit = try Self.thresholdBit(threshold, in: name, thresholds: &thresholds)
                    taskTests.append(.serviceTimeAtMost(threshold: bit, value: threshold))
                }
            }
            compiled.append(CompiledRule(group: group, kindTests: kindTests, taskTests: taskTests))
        }
        return (compiled, thresholds.map(Self.nanoseconds))
    }

    private static func checkCost(_ threshold: Duration, in name: String) throws(ConveyorError) {
        guard threshold >= .zero else {
            throw .invalidConfiguration(reason: "\(name): cost threshold \(threshold) is negative; use a threshold of zero or more")
        }
    }

    /// The bit for a service-time threshold, adding it when new.
    private static func thresholdBit(_ threshold: Duration, in name: String, thresholds: inout [Duration]) throws(ConveyorError) -> Int {
        guard threshold > .zero else {
            throw .invalidConfiguration(
                reason: "\(name): service-time threshold \(threshold) must be positive; every kind has a service time of zero or more"
            )
        }
        if let bit = thresholds.firstIndex(of: threshold) { return bit }
        guard thresholds.count < RouteWord.maximumThresholds else {
            throw .invalidConfiguration(
                reason: "\(name): the rules use more than \(RouteWord.maximumThresholds) distinct service-time thresholds; reuse thresholds across rules"
            )
        }
        thresholds.append(threshold)
        return thresholds.count - 1
    }

    static func nanoseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e9 + Double(attoseconds) * 1e-9
    }
}
