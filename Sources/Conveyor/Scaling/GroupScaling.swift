import ConveyorForecasting

/// How the scaler sizes one ``ResourceGroup``: bounds, interval, horizon, the workers' start
/// delay, the latency target, hysteresis and mode.
///
/// Every field has a default except the group and its bounds. The lead time of a scale-out is
/// ``horizon`` plus ``workerStartDelay`` rounded up to whole intervals (``leadIntervals``):
/// workers asked for now are ready when the forecast load arrives.
///
/// ```swift
/// var scaling = GroupScaling(group: "io", minWorkers: 2, maxWorkers: 16)
/// scaling.interval = .seconds(1)
/// scaling.horizon = 2                              // intervals beyond the start delay
/// scaling.workerStartDelay = .seconds(3)           // e.g. a connection pool warming up
/// scaling.latencyTarget = .milliseconds(100)       // p99 queue wait
/// scaling.mode = .active
/// ```
public struct GroupScaling: Sendable {
    /// The group's name in the ``Conveyor``.
    public var group: String
    /// The fewest workers the scaler sets (within the group's own `minWorkers...maxWorkers`).
    public var minWorkers: Int
    /// The most workers the scaler sets.
    public var maxWorkers: Int
    /// Length of one sampling interval: arrivals are counted and a decision is made once per
    /// interval. Default 1 s.
    public var interval: Duration
    /// How many intervals beyond the start delay a scale-out covers. Default 1.
    public var horizon: Int
    /// How long a new worker takes before it serves tasks at full speed (a connection pool, a
    /// warm cache). Scale-outs are made this much earlier. Default 0.
    public var workerStartDelay: Duration
    /// The queue wait (submit → start) the group should keep at ``latencyPercentile``.
    /// Default 100 ms.
    public var latencyTarget: Duration
    /// The percentile the latency target applies to, in (0, 1). Default 0.99.
    public var latencyPercentile: Double
    /// The highest mean utilisation (busy ÷ workers) to plan for, in (0, 1]. Default 0.8.
    public var targetUtilisation: Double
    /// Scale in only after this many consecutive intervals in which the observed load (and the
    /// forecast) needed fewer workers than the group has. Default 3.
    public var scaleInAfter: Int
    /// Scale-in headroom: the load is taken as (1 + hysteresis) × observed when deciding to
    /// scale in, so a load on the edge between two counts does not flap. Default 0.1.
    public var hysteresis: Double
    /// Where the load estimate comes from (default ``ScalingPolicy/predictive``).
    public var policy: ScalingPolicy
    /// What the scaler does with its decisions. Default ``ScalingMode/active``.
    public var mode: ScalingMode
    /// Coverage of the forecast's prediction interval whose upper bound is provisioned for,
    /// in (0, 1). 0.5 provisions for the point forecast. Default 0.8.
    public var provisioningCoverage: Double
    /// The forecaster's season setting. Default `.automatic`.
    public var season: SeasonSetting
    /// Intervals of history the forecaster keeps for learning (bounded memory). Default 4096.
    public var historyCapacity: Int
    /// Intervals between two `learnFromPatterns()` once warmed up (the first ones come after
    /// 32 intervals, then whenever the count doubles). Default 512.
    public var learnEvery: Int
    /// Service time assumed until the group has completed a timed task (`nil`: no decision
    /// before then).
    public var assumedServiceTime: Duration?

    /// Creates a configuration with the defaults above.
    public init(group: String, minWorkers: Int, maxWorkers: Int) {
        self.group = group
        self.minWorkers = minWorkers
        self.maxWorkers = maxWorkers
        self.interval = .seconds(1)
        self.horizon = 1
        self.workerStartDelay = .zero
        self.latencyTarget = .milliseconds(100)
        self.latencyPercentile = 0.99
        self.targetUtilisation = 0.8
        self.scaleInAfter = 3
        self.hysteresis = 0.1
        self.policy = .predictive
        self.mode = .active
        self.provisioningCoverage = 0.8
        self.season = .automatic
        self.historyCapacity = 4096
        self.learnEvery = 512
        self.assumedServiceTime = nil
    }

    /// Intervals a worker needs to start: ``workerStartDelay`` ÷ ``interval``, rounded up.
    public var startIntervals: Int {
        let ratio = self.workerStartDelay.scalingSeconds / self.interval.scalingSeconds
        guard ratio.isFinite, ratio > 0 else { return 0 }
        return Int((ratio - 1e-9).rounded(.up))
    }

    /// How far ahead a scale-out looks: ``horizon`` + ``startIntervals``.
    public var leadIntervals: Int { self.horizon + self.startIntervals }

    /// Checks every field; the error names the first that is out of range and what to use.
    public func validate() throws(ConveyorError) {
        func invalid(_ reason: String) -> ConveyorError {
            .invalidConfiguration(reason: "scaling of group \"\(self.group)\": \(reason)")
        }
        guard self.minWorkers >= 1 else { throw invalid("minWorkers must be at least 1 (got \(self.minWorkers))") }
        guard self.minWorkers <= self.maxWorkers else {
            throw invalid("minWorkers \(self.minWorkers) is greater than maxWorkers \(self.maxWorkers); swap them or raise maxWorkers")
        }
        guard self.maxWorkers <= ResourceGroup.maximumWorkers else {
            throw invalid("maxWorkers \(self.maxWorkers) is above the engine's limit of \(ResourceGroup.maximumWorkers)")
        }
        guard self.interval > .zero else { throw invalid("interval must be positive (got \(self.interval)); use e.g. .seconds(1)") }
        guard self.horizon >= 1 else { throw invalid("horizon must be at least 1 interval (got \(self.horizon))") }
        guard self.workerStartDelay >= .zero else {
            throw invalid("workerStartDelay must not be negative (got \(self.workerStartDelay)); use .zero for instant workers")
        }
        guard self.leadIntervals <= 4096 else {
            throw invalid("horizon + workerStartDelay spans \(self.leadIntervals) intervals; at most 4096 (lengthen the interval)")
        }
        guard self.latencyTarget >= .zero else { throw invalid("latencyTarget must not be negative (got \(self.latencyTarget))") }
        guard self.latencyPercentile > 0, self.latencyPercentile < 1 else {
            throw invalid("latencyPercentile \(self.latencyPercentile) must be strictly between 0 and 1, e.g. 0.99")
        }
        guard self.targetUtilisation > 0, self.targetUtilisation <= 1 else {
            throw invalid("targetUtilisation \(self.targetUtilisation) must be in (0, 1], e.g. 0.8")
        }
        guard self.scaleInAfter >= 1 else { throw invalid("scaleInAfter must be at least 1 interval (got \(self.scaleInAfter))") }
        guard self.hysteresis >= 0, self.hysteresis.isFinite else {
            throw invalid("hysteresis \(self.hysteresis) must be a finite fraction ≥ 0, e.g. 0.1")
        }
        guard self.provisioningCoverage >= 0.5, self.provisioningCoverage < 1 else {
            throw invalid("provisioningCoverage \(self.provisioningCoverage) must be in [0.5, 1), e.g. 0.8")
        }
        guard self.historyCapacity >= 64 else { throw invalid("historyCapacity \(self.historyCapacity) is below 64") }
        guard self.learnEvery >= 1 else { throw invalid("learnEvery must be at least 1 (got \(self.learnEvery))") }
        if let assumed = self.assumedServiceTime, assumed <= .zero {
            throw invalid("assumedServiceTime must be positive (got \(assumed)) or nil")
        }
        if case .reactive(let window) = self.policy, window < 1 {
            throw invalid("the reactive window must be at least 1 interval (got \(window))")
        }
    }
}

/// Where a group's scaler takes its load estimate from. Every policy shares the same
/// scale-in rule (``GroupScaling/scaleInAfter``, ``GroupScaling/hysteresis``) and bounds.
///
/// ```swift
/// scaling.policy = .reactive(window: 3)  // a baseline: the last 3 intervals' peak
/// ```
public enum ScalingPolicy: Sendable {
    /// The forecaster's upper prediction bound over the next ``GroupScaling/leadIntervals``.
    case predictive
    /// The highest observed arrivals of the last `window` intervals, plus the queue backlog.
    case reactive(window: Int)
    /// Always ``GroupScaling/maxWorkers``.
    case fixedAtMaximum
    /// The true arrivals of the coming intervals, for simulations (an upper limit on what a
    /// forecast can do). The closure gets the number of intervals observed so far and how
    /// many are wanted, and returns the arrivals of those next intervals.
    case oracle(@Sendable (_ observedIntervals: Int, _ count: Int) -> [Double])

    var name: String {
        switch self {
        case .predictive: "predictive"
        case .reactive: "reactive"
        case .fixedAtMaximum: "static"
        case .oracle: "oracle"
        }
    }
}
