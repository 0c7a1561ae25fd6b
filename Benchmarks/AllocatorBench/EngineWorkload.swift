import BenchSupport
import Conveyor

/// The whole engine with its task records on the allocator under test: a `Conveyor` with one
/// group (1 worker, timing on) and a typed kind, fed open-loop by the bench's generator
/// (``OpenLoop``, spinning to each Poisson arrival at `rate`) for `seconds`; the handler
/// records submit → start latency (from the scheduled time).
///
/// ```swift
/// let engine = EngineWorkload(rate: 100_000, seconds: 2, warmupShare: 0.1, seed: 42)
/// let (result, conveyor) = try engine.run(recordAllocator: .process)
/// await conveyor.shutdown(drain: true)
/// print(result.tasksPerSecond, result.latency.p99)
/// ```
struct EngineWorkload {
    let rate: Double
    let seconds: Double
    let warmupShare: Double
    let seed: UInt64

    struct Result {
        var tasks: Int
        var measuredTasks: Int
        /// Measured tasks ÷ (first measured scheduled time → last completed), tasks/s.
        var tasksPerSecond: Double
        /// From ``OpenLoop``: submit rate, latency percentiles (ns), process CPU (% of a core).
        var openLoop: OpenLoopResult
        var generatorCPUPercent: Double
        /// Process CPU minus the generator thread's, % of one core.
        var engineCPUPercent: Double { max(0, self.openLoop.cpuPercent - self.generatorCPUPercent) }
        /// Tasks the engine completed (all of them once the run returned).
        var completed: Int
    }

    /// Runs the load and returns the figures and the still-running Conveyor (shut it down).
    func run(recordAllocator: FixedSizeAllocator.Kind) throws -> (Result, Conveyor) {
        let schedule = poissonSchedule(rate: self.rate, count: max(2, Int(self.rate * self.seconds)), seed: self.seed)
        let warmup = Int(Double(schedule.count) * self.warmupShare)
        let conveyor = try Conveyor(configuration: Conveyor.Configuration(
            groups: [ResourceGroup("engine", minWorkers: 1, capacity: 1 << 16, overflow: .spill(memoryLimit: 1 << 30))],
            recordAllocator: recordAllocator))
        let latency = try ConveyorLatency(
            conveyor: conveyor, kindName: "allocators.engine", task: QueueTask(kind: "allocators.engine"),
            group: "engine", capacity: schedule.count)
        let probe = EngineProbe(latency, warmup: warmup, last: schedule.count - 1)
        let openLoop = OpenLoop.run(probe, rate: self.rate, schedule: schedule, warmup: warmup, spin: true)
        let measured = schedule.count - warmup
        let completed = try conveyor.statistics(for: "engine").completed
        let result = Result(
            tasks: schedule.count, measuredTasks: measured, tasksPerSecond: probe.completionRate(tasks: measured),
            openLoop: openLoop, generatorCPUPercent: probe.generatorCPUPercent, completed: completed)
        return (result, conveyor)
    }
}
