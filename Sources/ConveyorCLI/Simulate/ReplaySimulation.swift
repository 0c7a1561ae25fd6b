import Conveyor
import Foundation
import Synchronization

/// `conveyor simulate --mode replay`: the policies drive the real engine over a slice of the
/// trace, in compressed wall-clock time.
///
/// One engine with one group per policy (each `minWorkers…maxWorkers`, starting at the maximum,
/// `batchSize` 1 so a sleeping handler holds one task); every arrival of the plan is submitted
/// to all four groups at its compressed time. Time runs `speedup` intervals per wall-clock
/// second: service time, start delay and SLO are divided by interval × speedup. One
/// ``PredictiveScaler`` sizes all four groups (their ``GroupScaling/policy`` differs), stepped
/// at every interval end with ``PredictiveScaler/scalePreemptively()``; its forecasters are
/// first warmed on the rows before the slice (``PredictiveScaler/warm(group:history:meanServiceTime:)``).
/// A scale-out's workers join the engine the start delay after the decision
/// (``SpinUpApplier``); worker-seconds count them from the decision.
struct ReplaySimulation {
    let settings: SimulationSettings
    let plan: ArrivalPlan
    let start: Int
    let rows: Int
    let speedup: Double

    struct Payload: BitwiseCopyable, Sendable {
        var group: Int32
    }

    func run() async throws -> SimulationOutcome {
        let compression = 1 / (self.settings.intervalSeconds * self.speedup)
        let wallInterval = 1 / self.speedup
        let wallService = self.settings.serviceSeconds * compression
        let wallDelay = seconds(self.settings.workerStartDelay) * compression
        let wallSLO = seconds(self.settings.slo) * compression
        let names = PolicyName.allCases
        let maxWorkers = self.settings.maxWorkers
        let groups = names.map {
            ResourceGroup(
                $0.rawValue, minWorkers: self.settings.minWorkers, maxWorkers: maxWorkers, initialWorkers: maxWorkers,
                capacity: 1 << 16, overflow: .spill(memoryLimit: 512 << 20), batchSize: 1)
        }
        let conveyor = try Conveyor(configuration: .init(groups: groups, timing: true))
        let kinds = try names.map { name in
            try conveyor.register("simulated-\(name.rawValue)", payload: Payload.self) { _ in Self.sleep(wallService) }
        }
        // The scaler sees compressed time: its interval is the wall-clock interval.
        let scalings = names.map { name in
            var scaling = self.settings.scaling(policy: scalingPolicy(name, settings: self.settings, plan: self.plan))
            scaling.group = name.rawValue
            scaling.interval = .nanoseconds(Int64(wallInterval * 1e9))
            scaling.workerStartDelay = .nanoseconds(Int64(wallDelay * 1e9))
            scaling.latencyTarget = .nanoseconds(Int64(wallSLO * 1e9))
            return scaling
        }
        let applier = SpinUpApplier(
            conveyor: conveyor, delay: .nanoseconds(Int64(wallDelay * 1e9)),
            initial: Dictionary(uniqueKeysWithValues: names.map { ($0.rawValue, maxWorkers) }))
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: scalings) { group, workers in
            try await applier.apply(group: group, workers: workers)
        }
        let history = (0..<self.start).map { self.plan.missing[$0] ? nil : Double(self.plan.count($0)) }
        for name in names {
            try scaler.warm(group: name.rawValue, history: history, meanServiceTime: .nanoseconds(Int64(wallService * 1e9)))
        }

        let clock = ContinuousClock()
        let origin = clock.now
        func wall(_ secondsFromOrigin: Double) -> ContinuousClock.Instant {
            origin + .nanoseconds(Int64(secondsFromOrigin * 1e9))
        }
        var submitted = Array(repeating: 0, count: names.count)
        var rejected = Array(repeating: 0, count: names.count)
        var violations = Array(repeating: 0, count: names.count)
        var workerSeconds = Array(repeating: 0.0, count: names.count)
        var workers = Array(repeating: [Int](), count: names.count)
        var decisions = Array(repeating: 0, count: names.count)
        var previous = conveyor.statistics
        var forecasts: [Double] = []
        var pending: [Int: Double] = [:]
        let lead = self.settings.scaling(policy: .predictive).leadIntervals
        await scaler.scalePreemptively()  // the baseline reading
        for step in 0..<self.rows {
            let interval = self.start + step
            for (index, name) in names.enumerated() {
                workerSeconds[index] += Double(applier.provisioned(name.rawValue)) * self.settings.intervalSeconds
            }
            let begin = Double(step) * wallInterval
            var position = self.plan.starts[interval]
            let end = self.plan.starts[interval + 1]
            while position < end {
                let due = begin + Double(self.plan.offsets[position]) * compression
                if clock.now < wall(due) { try? await clock.sleep(until: wall(due), tolerance: .microseconds(200)) }
                let now = (clock.now - origin)
                let nowSeconds = seconds(now)
                while position < end, begin + Double(self.plan.offsets[position]) * compression <= nowSeconds {
                    for (index, kind) in kinds.enumerated() {
                        do {
                            try conveyor.submit(kind, Payload(group: Int32(index)), QueueTask(kind: kind.name, group: names[index].rawValue))
                            submitted[index] += 1
                        } catch {
                            rejected[index] += 1
                        }
                    }
                    position += 1
                }
            }
            try? await clock.sleep(until: wall(begin + wallInterval), tolerance: .microseconds(200))
            let now = conveyor.statistics
            for index in names.indices {
                let waits = now[index].queueWait.subtracting(previous[index].queueWait)
                if !waits.isEmpty, Double(waits.p99) / 1e9 > wallSLO { violations[index] += 1 }
            }
            previous = now
            for decision in await scaler.scalePreemptively() {
                if let index = names.firstIndex(where: { $0.rawValue == decision.group }) { decisions[index] += 1 }
            }
            for (index, name) in names.enumerated() { workers[index].append(applier.provisioned(name.rawValue)) }
            if let prediction = try? scaler.predictLoad(for: PolicyName.predictive.rawValue, horizon: lead) {
                pending[interval + lead] = prediction.arrivals.last?.value
            }
            forecasts.append(pending.removeValue(forKey: interval) ?? .nan)
            scaler.learnFromPatternsIfDue()
        }
        // Let every accepted task run, then stop.
        let deadline = clock.now + .seconds(60)
        while clock.now < deadline, conveyor.statistics.contains(where: { $0.queued > 0 }) {
            try? await clock.sleep(for: .milliseconds(10))
        }
        await conveyor.shutdown(drain: true)
        let final = conveyor.statistics
        scaler.finish()
        let accuracy = try scaler.forecastAccuracy(for: PolicyName.predictive.rawValue)
        let outcomes = names.indices.map { index in
            let ran = final[index].completed + final[index].failed
            return PolicyOutcome(
                name: names[index].rawValue, sloViolationIntervals: violations[index], workerSeconds: workerSeconds[index],
                dropped: rejected[index] + max(0, submitted[index] - ran), tasks: submitted[index] + rejected[index],
                p99QueueWaitMilliseconds: Double(final[index].queueWait.p99) / 1e6 / compression,
                workers: workers[index], decisions: decisions[index])
        }
        return SimulationOutcome(
            mode: "replay", rows: self.rows, policies: outcomes, forecastAccuracy: accuracy.lead.value,
            nextIntervalAccuracy: accuracy.nextInterval.value, leadIntervals: lead,
            arrivals: (self.start..<self.start + self.rows).map(self.plan.count), forecasts: forecasts,
            scale: self.plan.scale, firstRow: self.start)
    }

    static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }
}

/// Applies the scaler's decisions with the workers' start delay: a scale-out's workers join
/// the engine `delay` after the decision (they are paid for from the decision); a scale-in
/// takes effect at once, and cancels workers still starting first.
final class SpinUpApplier: Sendable {
    private let conveyor: Conveyor
    private let delay: Duration
    /// The latest decided count of each group.
    private let decided: Mutex<[String: Int]>

    init(conveyor: Conveyor, delay: Duration, initial: [String: Int]) {
        self.conveyor = conveyor
        self.delay = delay
        self.decided = Mutex(initial)
    }

    func provisioned(_ group: String) -> Int { self.decided.withLock { $0[group] ?? 0 } }

    func apply(group: String, workers: Int) async throws {
        let previous = self.decided.withLock { decided in
            defer { decided[group] = workers }
            return decided[group] ?? workers
        }
        let running = try self.conveyor.statistics(for: group).workers
        if workers < previous {
            if workers < running { try await self.conveyor.resize(group: group, workers: workers) }
            return
        }
        let conveyor = self.conveyor
        let delay = self.delay
        Task {
            try? await Task.sleep(for: delay)
            let target = min(workers, self.decided.withLock { $0[group] ?? workers })
            if let now = try? conveyor.statistics(for: group).workers, target > now {
                try? await conveyor.resize(group: group, workers: target)
            }
        }
    }
}
