import ConveyorForecasting
import Foundation
import MetricsTestKit
import Testing

@testable import Conveyor

/// A group configuration for the planner tests: 1 s intervals, 10 ms tasks, 3 s start delay.
private func scaling(_ policy: ScalingPolicy = .predictive, minWorkers: Int = 1, maxWorkers: Int = 16) -> GroupScaling {
    var scaling = GroupScaling(group: "g", minWorkers: minWorkers, maxWorkers: maxWorkers)
    scaling.interval = .seconds(1)
    scaling.horizon = 1
    scaling.workerStartDelay = .seconds(3)
    scaling.latencyTarget = .milliseconds(20)
    scaling.season = .fixed([24])
    scaling.policy = policy
    return scaling
}

/// 24-interval cycles: 100 arrivals for 16 intervals, then a ramp to 600 for 8.
private func rampLoad(_ interval: Int) -> Double { interval % 24 >= 16 ? 600 : 100 }

@Suite("Scaler: sizing, planning and bounds")
struct ScalerPlannerTests {
    @Test("Erlang C matches the closed form; sizing follows Little's law and the latency target")
    func erlangC() {
        // M/M/2 with offered load 1: P(wait) = 1/3.
        #expect(abs(WorkerSizing.waitProbability(servers: 2, offeredLoad: 1) - 1.0 / 3) < 1e-12)
        // M/M/1: P(wait) = ρ.
        #expect(abs(WorkerSizing.waitProbability(servers: 1, offeredLoad: 0.7) - 0.7) < 1e-12)
        #expect(WorkerSizing.waitProbability(servers: 3, offeredLoad: 3) == 1)
        // 400 tasks/s × 20 ms = 8 busy workers; at 80 % that is 10, and 10 keep p99 ≤ 50 ms.
        let workers = WorkerSizing.recommendedWorkers(
            arrivalRate: 400, meanServiceTime: 0.02, targetUtilisation: 0.8, latencyTarget: 0.05, percentile: 0.99)
        #expect(workers == 10)
        // A zero latency target needs P(wait) itself ≤ 1 %: more workers.
        let strict = WorkerSizing.recommendedWorkers(
            arrivalRate: 400, meanServiceTime: 0.02, targetUtilisation: 0.8, latencyTarget: 0, percentile: 0.99)
        #expect(strict > workers)
        #expect(WorkerSizing.waitExceedance(servers: strict, arrivalRate: 400, meanServiceTime: 0.02, latency: 0) <= 0.01)
        #expect(WorkerSizing.waitExceedance(servers: strict - 1, arrivalRate: 400, meanServiceTime: 0.02, latency: 0) > 0.01)
        #expect(WorkerSizing.recommendedWorkers(arrivalRate: 0, meanServiceTime: 0.02, targetUtilisation: 0.8, latencyTarget: 0.05, percentile: 0.99) == 0)
        #expect(WorkerSizing.recommendedWorkers(arrivalRate: .nan, meanServiceTime: 0.02, targetUtilisation: 0.8, latencyTarget: 0.05, percentile: 0.99) == 0)
        // The capacity of 10 workers is the highest rate that still needs at most 10.
        let capacity = WorkerSizing.capacity(workers: 10, meanServiceTime: 0.02, targetUtilisation: 0.8, latencyTarget: 0.05, percentile: 0.99)
        #expect(WorkerSizing.recommendedWorkers(arrivalRate: capacity, meanServiceTime: 0.02, targetUtilisation: 0.8, latencyTarget: 0.05, percentile: 0.99) <= 10)
        #expect(WorkerSizing.recommendedWorkers(arrivalRate: capacity * 1.01, meanServiceTime: 0.02, targetUtilisation: 0.8, latencyTarget: 0.05, percentile: 0.99) > 10)
    }

    @Test("Bad configuration is a typed error that names the field")
    func badConfiguration() throws {
        func reason(_ change: (inout GroupScaling) -> Void) -> String? {
            var configuration = scaling()
            change(&configuration)
            do {
                _ = try ScalingPlanner(configuration)
                return nil
            } catch {
                guard case .invalidConfiguration(let reason) = error else { return nil }
                return reason
            }
        }
        #expect(reason { $0.horizon = 0 }?.contains("horizon") == true)
        #expect(reason { $0.minWorkers = 5; $0.maxWorkers = 4 }?.contains("greater than maxWorkers") == true)
        #expect(reason { $0.workerStartDelay = .seconds(-1) }?.contains("workerStartDelay") == true)
        #expect(reason { $0.interval = .zero }?.contains("interval") == true)
        #expect(reason { $0.interval = .seconds(-1) }?.contains("interval") == true)
        #expect(reason { $0.minWorkers = 0 }?.contains("minWorkers") == true)
        #expect(reason { $0.latencyPercentile = 1 }?.contains("latencyPercentile") == true)
        #expect(reason { $0.policy = .reactive(window: 0) }?.contains("reactive") == true)
        #expect(reason { _ in } == nil)

        var planner = try ScalingPlanner(scaling())
        #expect(throws: ScalingError.invalidHorizon(0)) { try planner.predictLoad(horizon: 0) }
        #expect(throws: ScalingError.noObservations(group: "g")) { try planner.predictLoad(horizon: 1) }
        planner.record(.init(arrivals: 10, meanServiceTime: nil, queued: 0))
        #expect(throws: ScalingError.noServiceTime(group: "g")) { try planner.predictLoad(horizon: 1) }
        let none = planner.plan(currentWorkers: 1)
        #expect(none == nil)  // no service time: no decision
    }

    /// Runs `cycles` cycles of the ramp through a planner, applying every plan; returns the
    /// interval after which each decision was made and the workers during each interval.
    private func drive(_ policy: ScalingPolicy, cycles: Int) throws -> (decisions: [(after: Int, plan: ScalingPlanner.Plan)], workers: [Int]) {
        var planner = try ScalingPlanner(scaling(policy))
        var current = 1
        var decisions: [(Int, ScalingPlanner.Plan)] = []
        var workers: [Int] = []
        for interval in 0..<(24 * cycles) {
            workers.append(current)
            planner.record(.init(arrivals: rampLoad(interval), meanServiceTime: .milliseconds(10), completed: 100, queued: 0))
            if let plan = planner.plan(currentWorkers: current) {
                decisions.append((interval, plan))
                current = plan.to
            }
            if planner.isLearningDue { planner.learnFromPatterns() }
        }
        return (decisions, workers)
    }

    @Test("Predictive scales out before a scripted ramp by the lead time; reactive only after it")
    func scalesOutAheadOfRamp() throws {
        let configuration = scaling()
        let lead = configuration.leadIntervals
        #expect(lead == 4)  // horizon 1 + 3 s start delay at 1 s intervals
        let planner = try ScalingPlanner(configuration)
        let needHigh = try #require(planner.requiredWorkersFor(arrivals: 600, serviceTime: 0.01))
        let cycles = 24
        let predictive = try self.drive(.predictive, cycles: cycles)
        // The last cycles, once the forecaster has learned the season.
        for cycle in (cycles - 4)..<cycles {
            let ramp = cycle * 24 + 16
            // Workers decided at the end of interval d serve from d + 1 + start intervals.
            let outs = predictive.decisions.filter { $0.plan.to > $0.plan.from && $0.after < ramp && $0.after >= ramp - 16 }
            let first = try #require(outs.first, "no scale-out before the ramp of cycle \(cycle)")
            #expect(first.after <= ramp - lead, "cycle \(cycle): first scale-out after interval \(first.after), ramp at \(ramp)")
            #expect(first.plan.reason == .forecastLoad)
            // Ready in time: the plan in force at ramp − 1 − startIntervals covers the ramp.
            let decidedBy = ramp - 1 - configuration.startIntervals
            let inForce = predictive.workers[decidedBy + 1]
            #expect(inForce >= needHigh, "cycle \(cycle): \(inForce) workers decided by \(decidedBy), the ramp needs \(needHigh)")
        }
        let reactive = try self.drive(.reactive(window: 3), cycles: cycles)
        let ramp = (cycles - 1) * 24 + 16
        let firstReactive = try #require(reactive.decisions.first { $0.plan.to > $0.plan.from && $0.after >= ramp - 16 && $0.after < ramp + 8 })
        #expect(firstReactive.after >= ramp, "reactive cannot see the ramp before it arrives")
    }

    @Test("Scale-in waits for sustained low observed load")
    func scaleInHysteresis() throws {
        var configuration = scaling(.reactive(window: 1))
        configuration.scaleInAfter = 3
        var planner = try ScalingPlanner(configuration)
        planner.record(.init(arrivals: 600, meanServiceTime: .milliseconds(10), queued: 0))
        let first = planner.plan(currentWorkers: 1)
        let out = try #require(first)
        var current = out.to
        #expect(out.reason == .observedLoad)
        var lowIntervals = 0
        while true {
            planner.record(.init(arrivals: 100, meanServiceTime: .milliseconds(10), queued: 0))
            lowIntervals += 1
            if let plan = planner.plan(currentWorkers: current) {
                #expect(plan.reason == .sustainedLowLoad)
                #expect(plan.to < current)
                current = plan.to
                break
            }
            #expect(lowIntervals < 10)
            if lowIntervals >= 10 { break }
        }
        #expect(lowIntervals == configuration.scaleInAfter)
        // After a scale-in the count starts again: one low interval is not enough.
        planner.record(.init(arrivals: 100, meanServiceTime: .milliseconds(10), queued: 0))
        let again = planner.plan(currentWorkers: current + 1)
        #expect(again == nil)
    }

    @Test("Never outside the bounds, on random loads with zeros, gaps, spikes and backlogs")
    func staysWithinBounds() throws {
        var random = SplitMix64(state: 7)
        for policy in [ScalingPolicy.predictive, .reactive(window: 2), .fixedAtMaximum, .oracle({ _, n in Array(repeating: 1e6, count: n) })] {
            var planner = try ScalingPlanner(scaling(policy, minWorkers: 3, maxWorkers: 9))
            var current = Int(random.next() % 20)  // may start outside the bounds
            for _ in 0..<600 {
                let roll = random.next() % 10
                let arrivals: Double? = switch roll {
                case 0: nil
                case 1: 0
                case 2: 1e9
                case 3: -5
                case 4: .infinity
                default: Double(random.next() % 2000)
                }
                let service: Duration? = roll == 5 ? nil : .microseconds(Int64(random.next() % 50_000 + 1))
                planner.record(.init(arrivals: arrivals, meanServiceTime: service, completed: 10, queued: Int(random.next() % 3000) - 100))
                if let plan = planner.plan(currentWorkers: current) {
                    #expect((3...9).contains(plan.to))
                    #expect(plan.from == current)
                    current = plan.to
                }
                if planner.isLearningDue { planner.learnFromPatterns() }
                if current < 3 || current > 9 { continue }
                if let prediction = try? planner.predictLoad(horizon: 3) {
                    #expect((3...9).contains(prediction.recommendedWorkers))
                    #expect(prediction.arrivals.allSatisfy { $0.value >= 0 && $0.lower >= 0 && $0.value.isFinite })
                }
            }
            #expect((3...9).contains(current))
        }
    }
}

extension ScalingPlanner {
    /// Workers the planner's sizing gives for `arrivals` per interval at `serviceTime` seconds.
    func requiredWorkersFor(arrivals: Double, serviceTime: Double) -> Int? {
        WorkerSizing.recommendedWorkers(
            arrivalRate: arrivals / self.scaling.interval.scalingSeconds, meanServiceTime: serviceTime,
            targetUtilisation: self.scaling.targetUtilisation, latencyTarget: self.scaling.latencyTarget.scalingSeconds,
            percentile: self.scaling.latencyPercentile)
    }
}

@Suite("Scaler: on the engine", .serialized)
struct ScalerEngineTests {
    @Test("Exactly once through scaler resizes (seen bitmap), decisions on the stream and within bounds")
    func exactlyOnceThroughResizes() async throws {
        let conveyor = try Conveyor(groups: [
            ResourceGroup("work", minWorkers: 1, maxWorkers: 6, capacity: 1024, overflow: .spill(memoryLimit: 64 << 20), batchSize: 4)
        ])
        let rounds = 40
        let perBurst = StressScale.scaled(600, minimum: 300)
        // A burst every 4th round, then three lulls: the backlog drains and the load stays low.
        let total = rounds / 4 * perBurst + rounds * 3 / 4 * 20
        let seen = PerThreadBitmaps(bitCount: total)
        let item = try conveyor.register("item", payload: Item.self) { item in
            seen.insert(Int(item.index))
            // A little blocking work (not CPU: the machine has 2 cores), so a burst queues and
            // needs more workers, and the backlog drains during the lulls.
            usleep(100)
        }
        var configuration = GroupScaling(group: "work", minWorkers: 1, maxWorkers: 6)
        configuration.interval = .milliseconds(20)
        configuration.latencyTarget = .milliseconds(2)
        configuration.scaleInAfter = 1
        configuration.policy = .reactive(window: 1)
        let clock = ManualScalingClock()
        let metrics = TestMetrics()
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: [configuration], clock: clock, metricsFactory: metrics)
        #expect(throws: ScalingError.unknownGroup(name: "nope")) { try scaler.predictLoad(for: "nope", horizon: 1) }
        await scaler.scalePreemptively()
        var next = 0
        var decisions: [ScalingDecision] = []
        for round in 0..<rounds {
            let count = round % 4 == 0 ? perBurst : 20
            for _ in 0..<count {
                try conveyor.submit(item, Item(index: UInt64(next)), QueueTask(kind: "item", group: "work"))
                next += 1
            }
            try await Task.sleep(for: .milliseconds(20))
            clock.advance(by: .milliseconds(20))
            decisions += await scaler.scalePreemptively()
            let workers = try conveyor.statistics(for: "work").workers
            #expect((1...6).contains(workers))
        }
        #expect(next == total)
        // Quiet: once the backlog has drained the observed load needs the minimum, so the
        // scaler must scale in (on a loaded machine the lulls above may not be long enough).
        for _ in 0..<500 where !decisions.contains(where: { $0.to < $0.from }) {
            try await Task.sleep(for: .milliseconds(10))
            clock.advance(by: .milliseconds(10))
            decisions += await scaler.scalePreemptively()
        }
        scaler.finish()
        var streamed: [ScalingDecision] = []
        for await decision in scaler.decisions { streamed.append(decision) }
        #expect(streamed == decisions)
        #expect(decisions.contains { $0.to > $0.from && $0.applied })
        #expect(decisions.contains { $0.to < $0.from && $0.applied })
        #expect(decisions.allSatisfy { (1...6).contains($0.to) && $0.group == "work" })
        #expect(decisions.map(\.time) == decisions.map(\.time).sorted())
        let outs = try metrics.expectCounter("conveyor_scaler_decisions_total", [("group", "work"), ("direction", "out"), ("applied", "true")])
        #expect(outs.totalValue == Int64(decisions.filter { $0.to > $0.from }.count))
        await conveyor.shutdown(drain: true)
        let audit = seen.audit()
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(try conveyor.statistics(for: "work").completed == total)
    }

    @Test("run() samples every interval, scales a busy group out and stops when cancelled")
    func runLoop() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("g", minWorkers: 1, maxWorkers: 4, capacity: 4096, overflow: .spill(memoryLimit: 16 << 20))])
        var configuration = GroupScaling(group: "g", minWorkers: 1, maxWorkers: 4)
        configuration.interval = .milliseconds(5)
        configuration.latencyTarget = .microseconds(100)
        configuration.policy = .reactive(window: 2)
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: [configuration])
        let loop = Task { await scaler.run() }
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, try conveyor.statistics(for: "g").workers == 1 {
            for _ in 0..<100 { try conveyor.submit(QueueTask(kind: "x", group: "g")) { usleep(200) } }
            try await Task.sleep(for: .milliseconds(5))
        }
        loop.cancel()
        await loop.value
        #expect(try conveyor.statistics(for: "g").workers > 1)
        scaler.finish()
        var decisions: [ScalingDecision] = []
        for await decision in scaler.decisions { decisions.append(decision) }
        #expect(decisions.contains { $0.to > $0.from && $0.applied })
        await conveyor.shutdown(drain: true)
    }

    @Test("status(for:) reports the last interval against the forecast made for it, and keeps the decisions")
    func status() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("g", minWorkers: 1, maxWorkers: 4, capacity: 1024, overflow: .spill(memoryLimit: 16 << 20))])
        var configuration = GroupScaling(group: "g", minWorkers: 1, maxWorkers: 4)
        configuration.mode = .forecastOnly
        configuration.season = .fixed([24])
        let clock = ManualScalingClock(start: .seconds(100))
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: [configuration], clock: clock)
        #expect(throws: ScalingError.unknownGroup(name: "h")) { try scaler.status(for: "h") }
        let fresh = try scaler.status(for: "g")
        #expect(fresh.intervals == 0 && fresh.lastObserved == 0 && fresh.lastForecast == nil && fresh.next == nil)
        #expect(fresh.decidedWorkers == nil && fresh.recentDecisions.isEmpty && fresh.mode == .forecastOnly)
        // 48 intervals of 100 arrivals at 10 ms: the forecast for each is about 100.
        try scaler.warm(group: "g", history: Array(repeating: 100, count: 48), meanServiceTime: .milliseconds(10))
        let warmed = try scaler.status(for: "g")
        #expect(warmed.intervals == 48 && warmed.lastObserved == 100)
        #expect(abs(try #require(warmed.lastForecast) - 100) < 1)
        #expect(abs(try #require(warmed.next).value - 100) < 1)
        #expect(warmed.meanServiceTime == .milliseconds(10))
        #expect(warmed.now == .seconds(100))
        // The forecast needs 2 workers (1 busy at 80 %): one scale-out, decided but not applied.
        await scaler.scalePreemptively()  // baseline
        clock.advance(by: .seconds(1))
        let made = await scaler.scalePreemptively()
        #expect(made.map(\.to) == [2])
        let decided = try scaler.status(for: "g")
        #expect(decided.recentDecisions == made)
        #expect(decided.recentDecisions.first?.time == .seconds(101) && decided.now == .seconds(101))
        #expect(decided.decidedWorkers == 2 && decided.scaleOuts == 1 && decided.appliedScaleOuts == 0 && decided.scaleIns == 0)
        #expect(decided.lastObserved == 0 && decided.intervals == 49)
        #expect(try conveyor.statistics(for: "g").workers == 1)
        #expect(scaler.statuses.map(\.group) == ["g"])
        await conveyor.shutdown(drain: true)
    }

    @Test("forecastOnly decides and reports but never resizes; bounds outside the group are rejected")
    func forecastOnly() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("g", minWorkers: 1, maxWorkers: 4, capacity: 1024, overflow: .spill(memoryLimit: 16 << 20))])
        #expect(throws: ConveyorError.self) {
            _ = try PredictiveScaler(conveyor: conveyor, groups: [GroupScaling(group: "g", minWorkers: 1, maxWorkers: 8)])
        }
        #expect(throws: ConveyorError.unknownGroup(name: "h")) {
            _ = try PredictiveScaler(conveyor: conveyor, groups: [GroupScaling(group: "h", minWorkers: 1, maxWorkers: 2)])
        }
        var configuration = GroupScaling(group: "g", minWorkers: 1, maxWorkers: 4)
        configuration.mode = .forecastOnly
        configuration.interval = .milliseconds(10)
        configuration.latencyTarget = .microseconds(100)
        configuration.assumedServiceTime = .milliseconds(1)
        configuration.policy = .reactive(window: 1)
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: [configuration])
        await scaler.scalePreemptively()
        for _ in 0..<200 { try conveyor.submit(QueueTask(kind: "x", group: "g")) { usleep(500) } }
        try await Task.sleep(for: .milliseconds(10))
        let decisions = await scaler.scalePreemptively()
        let decision = try #require(decisions.first)
        #expect(decision.to > decision.from)
        #expect(!decision.applied)
        #expect(try conveyor.statistics(for: "g").workers == 1)
        #expect(try scaler.mode(for: "g") == .forecastOnly)
        let prediction = try scaler.predictLoad(for: "g", horizon: 3)
        #expect(prediction.horizon == 3)
        #expect((1...4).contains(prediction.recommendedWorkers))
        try scaler.setMode(.off, for: "g")
        for _ in 0..<200 { try conveyor.submit(QueueTask(kind: "x", group: "g")) {} }
        #expect(await scaler.scalePreemptively().isEmpty)
        await conveyor.shutdown(drain: true)
    }
}
