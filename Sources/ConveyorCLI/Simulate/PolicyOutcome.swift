import Conveyor

/// What one policy did over a simulation.
struct PolicyOutcome: Sendable {
    var name: String
    /// Intervals whose p99 queue wait (of the tasks that started in them) exceeded the SLO.
    var sloViolationIntervals: Int
    /// Σ provisioned workers × interval length (workers still starting count: they are paid for).
    var workerSeconds: Double
    /// Tasks that arrived but never ran (the engine rejected them, or they were lost).
    var dropped: Int
    /// Tasks that arrived.
    var tasks: Int
    /// The p99 queue wait over every task, milliseconds.
    var p99QueueWaitMilliseconds: Double
    /// Provisioned workers at the end of each interval.
    var workers: [Int]
    /// Decisions the policy made.
    var decisions: Int
}

/// The result of one `conveyor simulate` run.
struct SimulationOutcome: Sendable {
    var mode: String
    var rows: Int
    var policies: [PolicyOutcome]
    /// 1 − WAPE of the predictive scaler's forecasts made `leadIntervals` ahead.
    var forecastAccuracy: Double?
    /// 1 − WAPE of its one-interval-ahead forecasts.
    var nextIntervalAccuracy: Double?
    var leadIntervals: Int
    /// Arrivals per interval (the load).
    var arrivals: [Int]
    /// The predictive scaler's forecast for each interval, made `leadIntervals` earlier (NaN before it had one).
    var forecasts: [Double]
    /// Expected tasks per interval per unit of the trace's count.
    var scale: Double
    /// The first trace row simulated (replay slices start later).
    var firstRow: Int

    func policy(_ name: PolicyName) -> PolicyOutcome? { self.policies.first { $0.name == name.rawValue } }
}
