import Synchronization

/// Picks the ResourceGroup for each task: an explicit group, then ordered rules on kind, tags,
/// cost estimate and learned service time, then a fallback.
///
/// Routing learns how long each kind takes: a ``Conveyor``'s workers publish batches of the
/// service times they observed (an internal call, batched off the per-task path), and rules such as `.serviceTime(above: .milliseconds(1))` follow
/// each kind's average, with a cold-start policy (``ColdStart``) for kinds with few samples
/// and hysteresis (``Hysteresis``) so that a kind near a threshold does not flap.
///
/// ```swift
/// let router = try Router(
///     groups: ["cpu", "io", "gpu"],
///     rules: [
///         RoutingRule(when: .tagsContainAny(["gpu"]), to: "gpu"),
///         RoutingRule(when: .serviceTime(above: .milliseconds(1)), to: "io"),
///     ],
///     fallbackGroup: "cpu"
/// )
/// let group = try router.route(kind: "resize", tags: ["gpu"])   // 2 ("gpu")
/// let other = try router.route(kind: "parse")                   // 0 ("cpu") until learned
/// ```
///
/// **Cost.** `route` takes no lock and allocates nothing once a kind has been seen: it hashes
/// the kind, finds its slot in a lock-free table and reads one atomic word. When the rules
/// that can apply to the kind do not look at tags or the cost estimate, that word holds the
/// decision itself; otherwise only those rules are evaluated for the task. The first task of a
/// new kind and a workers' publish take a pthread mutex (batched, off the per-task path); a
/// publish rewrites a kind's word only when its decision changes.
///
/// Kinds are never forgotten: keep the set of kind names bounded (they name task types, not
/// task instances).
public final class Router: Sendable {
    /// The group names; `route` returns an index into this array.
    public let groups: [String]
    /// The rules, in the order they are tried.
    public let rules: [RoutingRule]
    /// Where a task goes when no rule matches.
    public let fallbackGroup: String
    /// How kinds with few samples are routed.
    public let coldStart: ColdStart
    /// How a kind switches side of a service-time threshold.
    public let hysteresis: Hysteresis

    let groupIndices: [String: Int]
    let fallbackIndex: Int
    let coldDefaultIndex: Int?
    let compiledRules: [CompiledRule]
    /// The distinct service-time thresholds in nanoseconds; index j is bit j of a route word.
    let thresholds: [Double]
    let estimator: ServiceTimeEstimator
    /// The `KindTable` readers probe, as its bit pattern.
    let currentTable: Atomic<UInt>
    let state: PThreadMutex<RouterState>

    /// Creates a router.
    ///
    /// - Parameters:
    ///   - groups: the group names, in the order of the indices `route` returns; non-empty,
    ///     unique.
    ///   - rules: tried in order; the first match wins. Each must name one of `groups`.
    ///   - fallbackGroup: where tasks matching no rule go; one of `groups`.
    ///   - coldStart: how kinds with too few samples are routed.
    ///   - hysteresis: how a kind switches side of a service-time threshold.
    ///   - serviceTimeWeight: the EWMA weight α of one service-time sample, in (0, 1].
    /// - Throws: `ConveyorError.invalidConfiguration` naming the problem: no groups, a
    ///   duplicate or empty group name, a rule, fallback or cold-start group that is not one of
    ///   `groups`, a condition that can never match or is out of range, more than 32 distinct
    ///   service-time thresholds, or a margin, dwell, sample count or weight out of range.
    public init(
        groups: [String],
        rules: [RoutingRule],
        fallbackGroup: String,
        coldStart: ColdStart = ColdStart(),
        hysteresis: Hysteresis = Hysteresis(),
        serviceTimeWeight: Double = 0.05
    ) throws(ConveyorError) {
        let groupIndices = try Self.validateGroups(groups)
        let fallbackIndex = try Self.index(of: fallbackGroup, in: groupIndices, groups: groups, role: "fallback group")
        let coldDefaultIndex = try coldStart.defaultGroup.map { (name: String) throws(ConveyorError) -> Int in
            try Self.index(of: name, in: groupIndices, groups: groups, role: "cold-start default group")
        }
        try Self.validate(coldStart: coldStart, hysteresis: hysteresis)
        let (compiledRules, thresholds) = try Self.compile(rules: rules, groupIndices: groupIndices, groups: groups)

        self.groups = groups
        self.rules = rules
        self.fallbackGroup = fallbackGroup
        self.coldStart = coldStart
        self.hysteresis = hysteresis
        self.groupIndices = groupIndices
        self.fallbackIndex = fallbackIndex
        self.coldDefaultIndex = coldDefaultIndex
        self.compiledRules = compiledRules
        self.thresholds = thresholds
        self.estimator = try ServiceTimeEstimator(weight: serviceTimeWeight)
        let table = KindTable(capacity: 64)
        self.currentTable = Atomic(table.bitPattern)
        self.state = PThreadMutex(RouterState(table: table))
    }

    deinit {
        self.state.withLock { state in
            state.table.deallocate()
            for table in state.retiredTables { table.deallocate() }
        }
    }

    /// The index of the group called `name`.
    /// - Throws: `ConveyorError.unknownGroup` when no group has that name.
    public func index(ofGroup name: String) throws(ConveyorError) -> Int {
        guard let index = self.groupIndices[name] else { throw .unknownGroup(name: name) }
        return index
    }

    /// Picks the group for one task and returns its index in ``groups``.
    ///
    /// An explicit group wins over every rule. Otherwise the rules are tried in order and the
    /// first match wins; with none, the task goes to ``fallbackGroup``. Priority and deadline
    /// do not take part in routing (they order work inside a group).
    ///
    /// ```swift
    /// let index = try router.route(kind: "thumbnail", tags: ["user-facing"], costEstimate: .microseconds(300))
    /// print(router.groups[index])
    /// ```
    ///
    /// - Parameters:
    ///   - kind: the task's kind.
    ///   - tags: the task's tags.
    ///   - explicitGroup: a group the submitter asked for by name.
    ///   - costEstimate: how long the submitter expects the task to take.
    /// - Throws: `ConveyorError.unknownGroup` when `explicitGroup` is not one of ``groups``.
    public func route(
        kind: String,
        tags: Set<String> = [],
        explicitGroup: String? = nil,
        costEstimate: Duration? = nil
    ) throws(ConveyorError) -> Int {
        if let explicitGroup {
            guard let index = self.groupIndices[explicitGroup] else { throw .unknownGroup(name: explicitGroup) }
            return index
        }
        let hash = kind.hashValue
        let table = KindTable(bitPattern: self.currentTable.load(ordering: .acquiring))
        if let slot = table.find(kind, hash: hash) {
            return slot._withUnsafeGuaranteedRef { slot in
                self.decide(slot: slot, tags: tags, costEstimate: costEstimate)
            }
        }
        let slot = self.slot(forNewKind: kind, hash: hash)
        return self.decide(slot: slot, tags: tags, costEstimate: costEstimate)
    }

    /// The decision for one task of the kind in `slot`: the cached group, or its candidate
    /// rules evaluated for the task.
    private func decide(slot: KindSlot, tags: Set<String>, costEstimate: Duration?) -> Int {
        // Relaxed: the word is self-contained; it points at nothing published with it.
        let word = RouteWord(rawValue: slot.word.load(ordering: .relaxed))
        if let cached = word.cachedGroup { return cached }
        let usesCost = self.coldStart.usesCostEstimate
        let candidates = slot.candidateRules
        for position in candidates.indices {
            let ruleIndex = candidates[position]
            switch self.compiledRules[ruleIndex].truth(word: word, tags: tags, costEstimate: costEstimate, coldUsesCost: usesCost) {
            case .yes: return self.compiledRules[ruleIndex].group
            case .unknown:
                if let coldDefault = self.coldDefaultIndex { return coldDefault }
            case .no, .perTask: continue
            }
        }
        return self.fallbackIndex
    }

    /// The decision for every task of a kind in state `word`, or `nil` when it depends on the
    /// task (its tags or cost estimate).
    func decisionForAnyTask(candidateRules: [Int], word: RouteWord) -> Int? {
        let usesCost = self.coldStart.usesCostEstimate
        for ruleIndex in candidateRules {
            switch self.compiledRules[ruleIndex].truthForAnyTask(word: word, coldUsesCost: usesCost) {
            case .yes: return self.compiledRules[ruleIndex].group
            case .unknown:
                if let coldDefault = self.coldDefaultIndex { return coldDefault }
            case .no: continue
            case .perTask: return nil
            }
        }
        return self.fallbackIndex
    }

    /// The route word for a kind's learning state, with the decision cached when it can be.
    func routeWord(for learning: KindLearning) -> RouteWord {
        let state = RouteWord(sides: learning.sides, isWarm: learning.isWarm, cachedGroup: nil)
        let cached = self.decisionForAnyTask(candidateRules: learning.slot.candidateRules, word: state)
        return RouteWord(sides: learning.sides, isWarm: learning.isWarm, cachedGroup: cached)
    }

    /// The slot of `kind`, added now when the kind is new: for a caller that routes many
    /// tasks of one kind (a registered `TaskKind`), so that each of them reads the slot's
    /// word directly instead of hashing the name and probing the table (see
    /// ``cachedDecision(slot:)``). Slots are never removed while the router lives.
    func slot(forKind kind: String) -> KindSlot {
        let hash = kind.hashValue
        let table = KindTable(bitPattern: self.currentTable.load(ordering: .acquiring))
        if let slot = table.find(kind, hash: hash) { return slot.takeUnretainedValue() }
        return self.slot(forNewKind: kind, hash: hash)
    }

    /// The group of every task of the kind in `slot` that names no group, has no tags and
    /// no cost estimate, when the kind's rules decide it without looking at the task (the
    /// cached decision in its word, kept current by workers' publishes); `nil` otherwise.
    @inline(__always)
    func cachedDecision(slot: KindSlot) -> Int? {
        // Relaxed, as in `decide`: the word is self-contained.
        RouteWord(rawValue: slot.word.load(ordering: .relaxed)).cachedGroup
    }

    /// The slow path for the first task of a kind: adds the kind under the lock.
    private func slot(forNewKind kind: String, hash: Int) -> KindSlot {
        self.state.withLock { state in
            if let learning = state.kinds[kind] { return learning.slot }
            return self.addKind(kind, hash: hash, to: &state).slot
        }
    }

    /// Adds `kind` to the table (growing it when half full). The caller holds the lock.
    func addKind(_ kind: String, hash: Int, to state: inout RouterState) -> KindLearning {
        let candidates = self.compiledRules.indices.filter { self.compiledRules[$0].matches(kind: kind) }
        let slot = KindSlot(kind: kind, hash: hash, candidateRules: candidates, word: RouteWord(rawValue: 0))
        let learning = KindLearning(slot: slot, thresholdCount: self.thresholds.count)
        // The word is complete before the slot becomes visible to readers.
        slot.word.store(self.routeWord(for: learning).rawValue, ordering: .relaxed)
        if (state.kinds.count + 1) * 2 > state.table.capacity {
            let bigger = KindTable(capacity: state.table.capacity * 2)
            for existing in state.kinds.values { bigger.insert(existing.slot) }
            state.retiredTables.append(state.table)
            state.table = bigger
            self.currentTable.store(bigger.bitPattern, ordering: .releasing)
        }
        state.table.insert(slot)
        state.kinds[kind] = learning
        return learning
    }
}

/// The router's mutable state, behind its `PThreadMutex`; only publish and first sightings of
/// a kind touch it, never a plain route.
struct RouterState: Sendable {
    /// Every kind seen so far; also what keeps each `KindSlot` alive.
    var kinds: [String: KindLearning] = [:]
    /// The table readers use (also published in `Router.currentTable`).
    var table: KindTable
    /// Tables replaced by a bigger one, freed when the router is destroyed.
    var retiredTables: [KindTable] = []
}
