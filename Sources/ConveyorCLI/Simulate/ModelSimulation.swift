import Conveyor

/// `conveyor simulate --mode model`: a discrete-event run of the scaler's own code
/// (``ScalingPlanner``) on a virtual clock.
///
/// Each policy serves the same arrivals (``ArrivalPlan``) with FCFS workers of a fixed
/// service time. At the end of every interval the policy's planner records the interval
/// (arrivals, service time, queue length) and decides; a scale-out's workers serve from
/// `workerStartDelay` later (they are paid for from the decision), a scale-in takes effect at
/// once (workers still starting go first; busy ones finish their task). Everything is
/// deterministic for a seed.
struct ModelSimulation {
    let settings: SimulationSettings
    let plan: ArrivalPlan

    func run() -> SimulationOutcome {
        var forecasts: [Double] = []
        var accuracy: (lead: Double?, next: Double?) = (nil, nil)
        var outcomes: [PolicyOutcome] = []
        for name in PolicyName.allCases {
            var policy = PolicyRun(name: name, settings: self.settings, plan: self.plan)
            let outcome = policy.run()
            if name == .predictive {
                forecasts = policy.forecasts
                accuracy = (policy.planner.leadAccuracy.value, policy.planner.nextIntervalAccuracy.value)
            }
            outcomes.append(outcome)
        }
        return SimulationOutcome(
            mode: "model", rows: self.plan.intervals, policies: outcomes, forecastAccuracy: accuracy.lead,
            nextIntervalAccuracy: accuracy.next, leadIntervals: self.settings.scaling(policy: .predictive).leadIntervals,
            arrivals: (0..<self.plan.intervals).map(self.plan.count), forecasts: forecasts, scale: self.plan.scale,
            firstRow: 0)
    }
}

/// Builds the scaling policy of `name` (the oracle reads the plan's true counts).
func scalingPolicy(_ name: PolicyName, settings: SimulationSettings, plan: ArrivalPlan, offset: Int = 0) -> ScalingPolicy {
    switch name {
    case .static: .fixedAtMaximum
    case .reactive: .reactive(window: settings.reactiveWindow)
    case .predictive: .predictive
    case .oracle: .oracle { observed, count in plan.counts(from: observed - offset, count: count) }
    }
}

/// One policy's discrete-event run.
private struct PolicyRun {
    let name: PolicyName
    let settings: SimulationSettings
    let plan: ArrivalPlan
    var planner: ScalingPlanner
    /// When each provisioned worker is next free (a starting worker: when it becomes ready).
    var free: [Double]
    /// Arrival times of tasks waiting to start, in order; `head` is the next to start.
    var waiting: [Double] = []
    var head = 0
    var forecasts: [Double] = []

    init(name: PolicyName, settings: SimulationSettings, plan: ArrivalPlan) {
        self.name = name
        self.settings = settings
        self.plan = plan
        // The settings were validated, so the configuration is valid.
        self.planner = try! ScalingPlanner(settings.scaling(policy: scalingPolicy(name, settings: settings, plan: plan)))
        self.free = Array(repeating: 0, count: settings.maxWorkers)
    }

    /// Starts waiting tasks on workers free by `time`; waits of started tasks go to `waits`.
    mutating func advance(to time: Double, service: Double, waits: inout [Double]) {
        while self.head < self.waiting.count {
            var best = 0
            for index in 1..<self.free.count where self.free[index] < self.free[best] { best = index }
            let arrival = self.waiting[self.head]
            let start = max(self.free[best], arrival)
            guard start <= time else { return }
            self.free[best] = start + service
            waits.append(start - arrival)
            self.head += 1
        }
        if self.head > 4096, self.head * 2 > self.waiting.count {
            self.waiting.removeFirst(self.head)
            self.head = 0
        }
    }

    mutating func run() -> PolicyOutcome {
        let length = self.settings.intervalSeconds
        let service = self.settings.serviceSeconds
        let slo = seconds(self.settings.slo)
        let delay = seconds(self.settings.workerStartDelay)
        let lead = self.planner.scaling.leadIntervals
        var histogram = LatencyHistogram()
        var waits: [Double] = []
        var violations = 0
        var workerSeconds = 0.0
        var decisions = 0
        var workers: [Int] = []
        var started = 0
        var pendingForecast: [Int: Double] = [:]
        workers.reserveCapacity(self.plan.intervals)
        for interval in 0..<self.plan.intervals {
            let origin = Double(interval) * length
            workerSeconds += Double(self.free.count) * length
            for position in self.plan.starts[interval]..<self.plan.starts[interval + 1] {
                let arrival = origin + Double(self.plan.offsets[position])
                self.advance(to: arrival, service: service, waits: &waits)
                self.waiting.append(arrival)
                self.advance(to: arrival, service: service, waits: &waits)
            }
            let end = origin + length
            self.advance(to: end, service: service, waits: &waits)
            started += waits.count
            for wait in waits { histogram.record(UInt64(max(0, wait) * 1e9)) }
            if Self.percentile99(&waits) > slo { violations += 1 }
            waits.removeAll(keepingCapacity: true)

            let queued = self.waiting.count - self.head
            let arrivals = self.plan.count(interval)
            self.planner.record(.init(
                arrivals: self.plan.missing[interval] ? nil : Double(arrivals),
                meanServiceTime: self.settings.serviceTime, completed: max(1, arrivals), queued: queued))
            if self.name == .predictive {
                self.forecasts.append(pendingForecast.removeValue(forKey: interval) ?? .nan)
                if let ahead = try? self.planner.forecaster.forecast(step: lead).value {
                    pendingForecast[interval + lead] = max(0, ahead)
                }
            }
            if let change = self.planner.plan(currentWorkers: self.free.count) {
                decisions += 1
                self.resize(to: change.to, at: end, ready: end + delay)
            }
            if self.planner.isLearningDue { self.planner.learnFromPatterns() }
            workers.append(self.free.count)
        }
        // Drain what is still waiting with the workers the run ended with.
        self.advance(to: .infinity, service: service, waits: &waits)
        started += waits.count
        for wait in waits { histogram.record(UInt64(max(0, wait) * 1e9)) }
        return PolicyOutcome(
            name: self.name.rawValue, sloViolationIntervals: violations, workerSeconds: workerSeconds,
            dropped: self.plan.offsets.count - started, tasks: self.plan.offsets.count,
            p99QueueWaitMilliseconds: Double(histogram.p99) / 1e6, workers: workers, decisions: decisions)
    }

    /// Scale-out: new workers ready at `ready`. Scale-in: the workers free last go first
    /// (starting ones, then the busiest, whose running task still finishes).
    mutating func resize(to count: Int, at time: Double, ready: Double) {
        if count > self.free.count {
            self.free.append(contentsOf: Array(repeating: ready, count: count - self.free.count))
        } else if count < self.free.count {
            self.free.sort()
            self.free.removeLast(self.free.count - count)
        }
    }

    /// The 99th percentile (nearest rank) of `values`; 0 when empty. Reorders `values`.
    static func percentile99(_ values: inout [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let rank = max(0, Int((0.99 * Double(values.count)).rounded(.up)) - 1)
        values.sort()
        return values[rank]
    }
}
