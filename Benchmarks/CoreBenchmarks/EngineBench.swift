// The engine's typed submit → run path for the CoreBenchmarks suite: a Conveyor whose group
// "bench" (one worker) runs a registered kind whose handler counts down the tasks of the
// current burst, and a submitting thread (the benchmark's) that parks until the burst has run.
//
// Completion does not read `Conveyor.statistics` (which builds an array per call): the
// handler decrements an atomic and the task that reaches zero unparks the submitter through
// a `Parker`, so the measured region holds no allocation of the harness's own. The malloc
// interposer counts every thread, so an allocation on the worker's path (per task, per batch)
// shows in `mallocCountTotal` as surely as one in `submit`.
import Benchmark
import Conveyor
import Synchronization

/// A typed task's payload.
struct Tick: BitwiseCopyable, Sendable {
    var value: UInt64
}

/// An engine made in a benchmark's `setup`, not at registration: every benchmark runs in a
/// process of its own, and the others need no worker threads. The engine lives until that
/// process exits.
final class EngineFixture: @unchecked Sendable {
    // @unchecked: `engine` is written by `setUp` only, which the benchmark runner calls before
    // the measured closure, never concurrently with it.
    struct Engine {
        let conveyor: Conveyor
        let kind: TaskKind<Tick>
        /// Tasks to submit round-robin (empty: `submit(kind, payload)` without a QueueTask).
        let tasks: [QueueTask]
        /// Keeps the engine's per-kind counting on, as a profiler attached to it does.
        let profiler: PerformanceProfiler?
    }

    /// The group the kind runs on, in every engine made here.
    static let group = "bench"

    private let remaining = Atomic<Int>(0)
    private let parker: Parker
    private let make: @Sendable (_ register: (Conveyor) throws -> TaskKind<Tick>) throws -> Engine
    private var engine: Engine?

    /// `make` builds the engine and registers the kind with the closure it is given.
    init(_ make: @escaping @Sendable (_ register: (Conveyor) throws -> TaskKind<Tick>) throws -> Engine) {
        self.parker = try! Parker()
        self.make = make
    }

    func setUp() throws {
        let engine = try self.make { conveyor in
            try conveyor.register("bench.tick", payload: Tick.self) { [self] tick in
                blackHole(tick.value)
                if self.remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    self.parker.unpark()
                }
            }
        }
        self.engine = engine
        // Warm-up: with the worker held, queue more tasks than a measured burst has in
        // flight, so the record pool reaches its working set before anything is measured
        // (as the engine's zero-allocation test does).
        let hold = try Latch()
        try engine.conveyor.submit(QueueTask(kind: "bench.hold", group: Self.group)) { hold.wait() }
        self.burst(engine, count: 4 * Int(BenchmarkScalingFactor.kilo.rawValue), wait: false)
        hold.open()
        self.parker.wait { self.remaining.load(ordering: .acquiring) == 0 }
    }

    /// Submits one task per scaled iteration, then waits until all of them ran: the figures
    /// per task are submit → run end to end, with the worker on the other core.
    func measure(_ benchmark: Benchmark) {
        guard let engine = self.engine else {
            benchmark.error("the engine was not set up")
            return
        }
        let before = MemoryStatistics.threadAllocatedBytes() ?? 0
        benchmark.startMeasurement()
        self.burst(engine, count: benchmark.scaledIterations.count, wait: true)
        benchmark.stopMeasurement()
        let after = MemoryStatistics.threadAllocatedBytes() ?? 0
        benchmark.measurement(jemallocBytes, after - before)
    }

    @inline(__always)
    private func burst(_ engine: Engine, count: Int, wait: Bool) {
        self.remaining.store(count, ordering: .releasing)
        let conveyor = engine.conveyor
        let kind = engine.kind
        do {
            if engine.tasks.isEmpty {
                for index in 0..<count { try conveyor.submit(kind, Tick(value: UInt64(index))) }
            } else {
                var next = 0
                for index in 0..<count {
                    try conveyor.submit(kind, Tick(value: UInt64(index)), engine.tasks[next])
                    next = next == engine.tasks.count - 1 ? 0 : next + 1
                }
            }
        } catch {
            fatalError("CoreBenchmarks: submit failed: \(error)")
        }
        if wait { self.parker.wait { self.remaining.load(ordering: .acquiring) == 0 } }
    }
}

/// A one-shot gate for the warm-up: the held task waits until the burst is queued.
final class Latch: Sendable {
    private let isOpen = Atomic<Bool>(false)
    private let parker: Parker

    init() throws {
        self.parker = try Parker()
    }

    func wait() {
        self.parker.wait { self.isOpen.load(ordering: .acquiring) }
    }

    func open() {
        self.isOpen.store(true, ordering: .releasing)
        self.parker.unpark()
    }
}
