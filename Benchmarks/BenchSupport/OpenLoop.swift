// Queue latency (submit → handler start) under open-loop Poisson arrivals, CPU at a low
// rate, and fairness across groups.
//
// A load generator on its own thread submits task i at t0 + schedule[i] (exponential gaps
// from a seeded generator). In latency mode it spins on the monotonic clock to each
// scheduled time and the handler records start − *scheduled* time, so a generator that
// falls behind (or a submit that blocks) shows up in the latency instead of hiding it
// (no coordinated omission). In CPU mode it sleeps to each time (clock_nanosleep, so its own
// CPU stays small) and the handler records start − the time taken just before the submit.
import Conveyor
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A latency task's payload: where to write its sample and the time it counts from.
package struct Stamp: BitwiseCopyable, Sendable {
    package var index: UInt64
    package var since: UInt64
}

/// Something the load generator submits to.
package protocol LatencyContender: Sendable {
    func submit(index: Int, since: UInt64)
    /// Blocks until every task submitted so far started and finished.
    func waitUntilDone()
    var samples: SampleBuffer { get }
}

/// A typed kind on a Conveyor group whose handler records its queue wait.
package final class ConveyorLatency: LatencyContender, @unchecked Sendable {
    package let conveyor: Conveyor
    package let kind: TaskKind<Stamp>
    package let task: QueueTask
    package let samples: SampleBuffer
    private var submitted = 0
    private let group: String
    private var base: Int

    /// `conveyor` must route `task` to `group`.
    package init(conveyor: Conveyor, kindName: String, task: QueueTask, group: String, capacity: Int) throws {
        let samples = SampleBuffer(capacity: capacity)
        self.conveyor = conveyor
        self.samples = samples
        self.task = task
        self.group = group
        self.kind = try conveyor.register(kindName, payload: Stamp.self) { stamp in
            samples.store(nowNanoseconds() &- stamp.since, at: Int(stamp.index))
        }
        self.base = try conveyor.statistics(for: group).completed
    }

    package func submit(index: Int, since: UInt64) {
        self.submitted += 1
        let kind = self.kind
        let task = self.task
        retrying { try self.conveyor.submit(kind, Stamp(index: UInt64(index), since: since), task) }
    }

    package func waitUntilDone() {
        let target = self.base + self.submitted
        while ((try? self.conveyor.statistics(for: self.group).completed) ?? target) < target {
            sleep(nanoseconds: 50_000)
        }
        self.base = target
        self.submitted = 0
    }
}

/// `DispatchQueue` concurrent `async(group:)` with a closure that records its queue wait.
package final class DispatchLatency: LatencyContender, @unchecked Sendable {
    package let queue = DispatchQueue(label: "bench.latency", attributes: .concurrent)
    package let group = DispatchGroup()
    package let samples: SampleBuffer

    package init(capacity: Int) {
        self.samples = SampleBuffer(capacity: capacity)
    }

    package func submit(index: Int, since: UInt64) {
        let samples = self.samples
        self.queue.async(group: self.group) {
            samples.store(nowNanoseconds() &- since, at: index)
        }
    }

    package func waitUntilDone() { self.group.wait() }
}

/// The load generator alone: submits nothing (its own CPU cost, for subtraction).
package struct NoContender: LatencyContender {
    package let samples = SampleBuffer(capacity: 1)
    package init() {}
    package func submit(index: Int, since: UInt64) {}
    package func waitUntilDone() {}
}

/// One open-loop run, measured over the tasks after the warm-up.
package struct OpenLoopResult: Codable, Sendable {
    package var targetRate: Double
    /// Measured tasks ÷ time from the first measured scheduled time to the last submit.
    package var achievedRate: Double
    package var latency: Percentiles
    /// Process CPU (user + sys) over the measured window, in % of one core.
    package var cpuPercent: Double
    /// How late the generator's last submit was against its schedule (ns).
    package var generatorLagNanoseconds: Double
}

package enum OpenLoop {
    /// Runs `schedule` (ns offsets) against `contender`; tasks before `warmup` are not measured.
    package static func run(_ contender: any LatencyContender, rate: Double, schedule: [UInt64], warmup: Int, spin: Bool)
        -> OpenLoopResult
    {
        precondition(schedule.count <= contender.samples.capacity || contender is NoContender)
        let window = Box((start: UInt64(0), cpuStart: UInt64(0), end: UInt64(0), cpuEnd: UInt64(0)))
        let thread = JoinableThread {
            let t0 = nowNanoseconds() + 2_000_000
            for (index, offset) in schedule.enumerated() {
                let due = t0 &+ offset
                if spin {
                    while nowNanoseconds() < due {}
                } else {
                    sleep(untilNanoseconds: due)
                }
                if index == warmup {
                    window.value.start = due
                    window.value.cpuStart = processCPUNanoseconds()
                }
                contender.submit(index: index, since: spin ? due : nowNanoseconds())
            }
            window.value.end = nowNanoseconds()
            window.value.cpuEnd = processCPUNanoseconds()
            window.value.start = window.value.start == 0 ? t0 : window.value.start
        }
        thread.join()
        contender.waitUntilDone()
        let measured = schedule.count - warmup
        let wall = Double(window.value.end &- window.value.start)
        let scheduledEnd = Double(schedule.last ?? 0) - Double(schedule[warmup])
        let samples = contender is NoContender ? [] : contender.samples.copy(warmup..<schedule.count)
        return OpenLoopResult(
            targetRate: rate,
            achievedRate: Double(measured) / (max(wall, 1) / 1e9),
            latency: Percentiles(samples),
            cpuPercent: Double(window.value.cpuEnd &- window.value.cpuStart) / max(wall, 1) * 100,
            generatorLagNanoseconds: max(0, wall - scheduledEnd))
    }
}

/// Submits, retrying (after a yield) only if a ring is full, which the capacities used here avoid.
/// Inlinable: the engine bench calls it per task, as it did when it lived in its own module.
@inlinable
package func retrying(_ submit: () throws -> Void) {
    while true {
        do {
            try submit()
            return
        } catch ConveyorError.queueFull {
            sched_yield()
        } catch {
            fatalError("submit failed: \(error)")
        }
    }
}
