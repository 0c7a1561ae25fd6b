import ConveyorForecasting

/// The decision core of a group's scaler, on no clock of its own: one ``record(_:)`` per
/// interval, then ``plan(currentWorkers:)``. ``PredictiveScaler`` runs one per group on the
/// live engine; `conveyor simulate` runs the same code on a virtual clock.
///
/// The rules, the same for every ``ScalingPolicy``:
/// - **Scale out** at once when the load estimate's peak over the intervals a new worker can
///   still reach (from the start delay to ``GroupScaling/leadIntervals`` = start delay +
///   horizon), plus the queued backlog, needs more workers than the group has.
/// - **Scale in** only after ``GroupScaling/scaleInAfter`` consecutive intervals in which the
///   observed load of those intervals, raised by ``GroupScaling/hysteresis``, *and* the
///   estimate over the whole lead time needed fewer workers; then to that count.
/// - Never outside ``GroupScaling/minWorkers``…``GroupScaling/maxWorkers``.
///
/// ```swift
/// var planner = try ScalingPlanner(GroupScaling(group: "io", minWorkers: 1, maxWorkers: 8))
/// planner.record(.init(arrivals: 120, meanServiceTime: .milliseconds(20), queued: 0))
/// if let plan = planner.plan(currentWorkers: 2) { print(plan.to, plan.reason) }
/// if planner.isLearningDue { planner.learnFromPatterns() }   // off the hot path
/// ```
public struct ScalingPlanner: Sendable {
    /// One interval's observations.
    public struct Sample: Sendable, Hashable {
        /// Tasks that arrived in the interval (`nil` or non-finite: unknown, a gap).
        public var arrivals: Double?
        /// Mean service time of the tasks completed in the interval (`nil`: none completed).
        public var meanServiceTime: Duration?
        /// How many tasks the service time is a mean of (weights it against other intervals).
        public var completed: Int
        /// Tasks waiting at the end of the interval.
        public var queued: Int

        public init(arrivals: Double?, meanServiceTime: Duration?, completed: Int = 1, queued: Int) {
            self.arrivals = arrivals
            self.meanServiceTime = meanServiceTime
            self.completed = completed
            self.queued = queued
        }
    }

    /// A change of the worker count (``ScalingDecision`` without time and group).
    public struct Plan: Sendable, Hashable {
        public var from: Int
        public var to: Int
        public var reason: ScalingDecision.Reason
        /// The arrivals per interval provisioned for.
        public var forecast: Double
        /// The arrivals of the last interval.
        public var observed: Double
    }

    /// The configuration (validated).
    public let scaling: GroupScaling
    /// The forecaster, fed one value per interval.
    public private(set) var forecaster: Forecaster
    /// Intervals recorded so far.
    public private(set) var intervals: Int
    /// 1 − WAPE of the forecasts made ``GroupScaling/leadIntervals`` ahead, against what arrived.
    public private(set) var leadAccuracy: ForecastAccuracy
    /// 1 − WAPE of the one-interval-ahead forecasts.
    public private(set) var nextIntervalAccuracy: ForecastAccuracy
    /// The one-interval-ahead forecast that was made for the interval recorded last (`nil`
    /// before the forecaster could forecast): what to plot against ``lastObserved``.
    public private(set) var lastForecast: Double?

    /// The last `memory` arrivals (NaN for gaps), oldest first once full.
    private var recent: [Double]
    private var recentStart: Int
    private let memory: Int
    /// Service time sums (seconds × tasks) and task counts of the last intervals.
    private var serviceWindow: [(sum: Double, count: Int)]
    private var lastServiceTime: Double?
    private var backlog: Int
    private var lowStreak: Int
    private var nextLearning: Int
    /// Forecasts waiting for their interval: (target interval, lead-ahead value, next-interval value).
    private var pendingLead: [(target: Int, value: Double)]
    private var pendingNext: Double?

    /// Creates a planner.
    ///
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` naming the first bad field.
    public init(_ scaling: GroupScaling) throws(ConveyorError) {
        try scaling.validate()
        self.scaling = scaling
        let lead = scaling.leadIntervals
        do {
            self.forecaster = try Forecaster(configuration: .init(
                season: scaling.season,
                horizons: lead == 1 ? [1] : [1, lead],
                historyCapacity: scaling.historyCapacity,
                intervalCoverage: max(0.01, 2 * scaling.provisioningCoverage - 1)))
        } catch {
            throw .invalidConfiguration(reason: "scaling of group \"\(scaling.group)\": \(error)")
        }
        self.intervals = 0
        self.leadAccuracy = ForecastAccuracy()
        self.nextIntervalAccuracy = ForecastAccuracy()
        var window = scaling.scaleInAfter
        if case .reactive(let reactive) = scaling.policy { window = max(window, reactive) }
        self.memory = max(window, 8)
        self.recent = []
        self.recentStart = 0
        self.serviceWindow = []
        self.lastServiceTime = scaling.assumedServiceTime?.scalingSeconds
        self.backlog = 0
        self.lowStreak = 0
        self.nextLearning = 32
        self.pendingLead = []
        self.pendingNext = nil
        self.lastForecast = nil
    }

    // MARK: Observing

    /// Records one interval: feeds the forecaster, the service time window and the backlog,
    /// and scores the forecasts that were made for this interval. O(seasons + lead time).
    public mutating func record(_ sample: Sample) {
        let arrivals = sample.arrivals.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        let index = self.intervals
        self.lastForecast = self.pendingNext
        if let arrivals {
            if let next = self.pendingNext { self.nextIntervalAccuracy.record(actual: arrivals, predicted: next) }
            if let first = self.pendingLead.first, first.target == index {
                self.leadAccuracy.record(actual: arrivals, predicted: first.value)
            }
        }
        self.pendingLead.removeAll { $0.target <= index }
        self.forecaster.observe(arrivals ?? .nan)
        self.remember(arrivals ?? .nan)
        if let mean = sample.meanServiceTime, mean > .zero, sample.completed > 0 {
            self.serviceWindow.append((mean.scalingSeconds * Double(sample.completed), sample.completed))
            if self.serviceWindow.count > 8 { self.serviceWindow.removeFirst() }
            let total = self.serviceWindow.reduce(0) { $0 + $1.count }
            self.lastServiceTime = self.serviceWindow.reduce(0) { $0 + $1.sum } / Double(total)
        }
        self.backlog = max(0, sample.queued)
        self.intervals += 1
        let lead = self.scaling.leadIntervals
        if let ahead = try? self.forecaster.forecast(step: lead).value {
            self.pendingLead.append((index + lead, max(0, ahead)))
        }
        self.pendingNext = (try? self.forecaster.forecast(step: 1).value).map { max(0, $0) }
    }

    private mutating func remember(_ value: Double) {
        if self.recent.count < self.memory {
            self.recent.append(value)
        } else {
            self.recent[self.recentStart] = value
            self.recentStart = (self.recentStart + 1) % self.memory
        }
    }

    /// The arrivals of the last `count` intervals, newest last (gaps as NaN).
    func lastArrivals(_ count: Int) -> [Double] {
        let ordered = Array(self.recent[self.recentStart...] + self.recent[..<self.recentStart])
        return Array(ordered.suffix(count))
    }

    /// The arrivals of the last interval (0 before any, or for a gap).
    public var lastObserved: Double {
        guard let last = self.lastArrivals(1).last, last.isFinite else { return 0 }
        return last
    }

    /// The mean service time over the last intervals with completions (or the assumed one).
    public var meanServiceTime: Duration? {
        self.lastServiceTime.map { .nanoseconds(Int64(($0 * 1e9).rounded())) }
    }

    /// Forgets the accuracy scored so far (after a warm start: score only live intervals).
    mutating func resetAccuracy() {
        self.leadAccuracy = ForecastAccuracy()
        self.nextIntervalAccuracy = ForecastAccuracy()
    }

    // MARK: Learning

    /// Whether ``learnFromPatterns()`` is due: after 32 intervals, then whenever the count
    /// doubles up to ``GroupScaling/learnEvery``, then every `learnEvery` intervals.
    public var isLearningDue: Bool { self.intervals >= self.nextLearning }

    /// Refits the forecaster's seasons and parameters on its bounded history (tens of
    /// milliseconds for 4096 intervals in a release build): call it off the hot path.
    @discardableResult
    public mutating func learnFromPatterns() -> ForecastModel {
        self.scheduleNextLearning()
        return self.forecaster.learnFromPatterns()
    }

    private mutating func scheduleNextLearning() {
        let every = self.scaling.learnEvery
        let doubled = max(32, self.intervals * 2)
        self.nextLearning = doubled <= every ? doubled : self.intervals + every
    }

    /// Puts in a forecaster that learned on a copy (``PredictiveScaler`` learns outside its
    /// lock); the intervals recorded since the copy are fed to it again from memory.
    /// Returns false (and keeps the current forecaster) when too many were recorded meanwhile.
    mutating func adopt(_ learned: Forecaster, copiedAt: Int) -> Bool {
        let missed = self.intervals - copiedAt
        guard missed >= 0, missed <= self.memory else { return false }
        var learned = learned
        for value in self.lastArrivals(missed) { learned.observe(value) }
        self.forecaster = learned
        self.scheduleNextLearning()
        return true
    }

    // MARK: Deciding

    /// Workers needed for `arrivals` per interval (unbounded), or nil without a service time.
    public func requiredWorkers(forArrivals arrivals: Double) -> Int? {
        guard let service = self.lastServiceTime else { return nil }
        let scaling = self.scaling
        return WorkerSizing.recommendedWorkers(
            arrivalRate: arrivals / scaling.interval.scalingSeconds, meanServiceTime: service,
            targetUtilisation: scaling.targetUtilisation, latencyTarget: scaling.latencyTarget.scalingSeconds,
            percentile: scaling.latencyPercentile)
    }

    /// The forecast for the next `horizon` intervals, with the workers it needs.
    public func predictLoad(horizon: Int) throws(ScalingError) -> LoadPrediction {
        guard horizon >= 1 else { throw .invalidHorizon(horizon) }
        let scaling = self.scaling
        let arrivals: [Forecast]
        do {
            arrivals = try self.forecaster.forecast(horizon: horizon).map {
                Forecast(step: $0.step, value: max(0, $0.value), lower: max(0, $0.lower), upper: max(0, $0.upper))
            }
        } catch {
            throw .noObservations(group: scaling.group)
        }
        guard let service = self.lastServiceTime else { throw .noServiceTime(group: scaling.group) }
        let provisioned = arrivals.map(\.upper).max() ?? 0
        let required = self.requiredWorkers(forArrivals: provisioned) ?? 0
        let capacity = WorkerSizing.capacity(
            workers: scaling.maxWorkers, meanServiceTime: service, targetUtilisation: scaling.targetUtilisation,
            latencyTarget: scaling.latencyTarget.scalingSeconds, percentile: scaling.latencyPercentile
        ) * scaling.interval.scalingSeconds
        return LoadPrediction(
            group: scaling.group, interval: scaling.interval, arrivals: arrivals, provisionedArrivals: provisioned,
            meanServiceTime: self.meanServiceTime ?? .zero, requiredWorkers: required,
            recommendedWorkers: min(scaling.maxWorkers, max(scaling.minWorkers, required)),
            capacityAtMaximum: capacity, exceedsCapacityAt: arrivals.first { $0.upper > capacity }?.step)
    }

    /// The policy's estimate of arrivals per interval over the next ``GroupScaling/leadIntervals``.
    func lookahead() -> [Double] {
        let lead = self.scaling.leadIntervals
        switch self.scaling.policy {
        case .predictive:
            if let forecasts = try? self.forecaster.forecast(horizon: lead) {
                let coverage = self.scaling.provisioningCoverage
                return forecasts.map { max(0, coverage <= 0.5 ? $0.value : $0.upper) }
            }
            return [self.lastObserved]
        case .reactive(let window):
            let peak = self.lastArrivals(window).filter(\.isFinite).max() ?? 0
            return Array(repeating: peak, count: lead)
        case .oracle(let future):
            let known = future(self.intervals, lead).map { $0.isFinite ? max(0, $0) : 0 }
            return known.isEmpty ? [self.lastObserved] : known
        case .fixedAtMaximum:
            return []
        }
    }

    /// Decides the next worker count for a group that now has `currentWorkers`, or `nil` to
    /// keep it. Call once per interval, after ``record(_:)``.
    public mutating func plan(currentWorkers: Int) -> Plan? {
        let scaling = self.scaling
        let observed = self.lastObserved
        func change(_ to: Int, _ reason: ScalingDecision.Reason, _ forecast: Double) -> Plan? {
            let bounded = min(scaling.maxWorkers, max(scaling.minWorkers, to))
            guard bounded != currentWorkers else { return nil }
            return Plan(from: currentWorkers, to: bounded, reason: reason, forecast: forecast, observed: observed)
        }
        if case .fixedAtMaximum = scaling.policy {
            self.lowStreak = 0
            return change(scaling.maxWorkers, .bounds, observed)
        }
        if currentWorkers < scaling.minWorkers || currentWorkers > scaling.maxWorkers {
            self.lowStreak = 0
            return change(currentWorkers, .bounds, observed)
        }
        let ahead = self.lookahead()
        // Workers asked for now serve from `startIntervals` on: a scale-out provisions for the
        // intervals it can still reach; the earlier ones were provided for by earlier decisions.
        let reachable = ahead.count > scaling.startIntervals ? ahead[scaling.startIntervals...] : ahead[...]
        let peakReachable = reachable.max() ?? observed
        // A scale-in cannot be undone faster than the start delay: keep what the whole lead needs.
        let peak = ahead.max() ?? observed
        let backlog = Double(self.backlog)
        guard let needed = self.requiredWorkers(forArrivals: peakReachable + backlog) else { return nil }
        if needed > currentWorkers {
            self.lowStreak = 0
            let reason: ScalingDecision.Reason
            switch scaling.policy {
            case .predictive, .oracle: reason = backlog > peakReachable ? .observedLoad : .forecastLoad
            case .reactive, .fixedAtMaximum: reason = .observedLoad
            }
            return change(needed, reason, peakReachable)
        }
        // The hysteresis guards against the noise of observed counts; the estimate over the
        // lead time is taken as it is (a forecast's upper bound already carries its uncertainty).
        let headroom = 1 + scaling.hysteresis
        guard let lowNow = self.requiredWorkers(forArrivals: max(peak, observed * headroom) + backlog),
            lowNow < currentWorkers
        else {
            self.lowStreak = 0
            return nil
        }
        self.lowStreak += 1
        guard self.lowStreak >= scaling.scaleInAfter else { return nil }
        // Low for `scaleInAfter` intervals in a row: size for the highest of them.
        let recentPeak = self.lastArrivals(scaling.scaleInAfter).filter(\.isFinite).max() ?? 0
        guard let target = self.requiredWorkers(forArrivals: max(peak, recentPeak * headroom) + backlog),
            target < currentWorkers
        else { return nil }
        self.lowStreak = 0
        return change(target, .sustainedLowLoad, peak)
    }
}
