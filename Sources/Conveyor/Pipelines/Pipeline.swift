import CConveyor
import Foundation
import Synchronization

/// An error of one pipeline item: the stage it happened in and what happened (the stage's
/// error, or ``ConveyorError/notStarted(kind:)`` for an item a stop left in the stage's queue).
///
/// ```swift
/// if case .failure(let error) = result { print(error.stage, error.underlying) }
/// ```
public struct PipelineStageError: Error, CustomStringConvertible {
    /// The stage's name, and its position (0 = the first stage).
    public var stage: String
    public var stageIndex: Int
    public var underlying: any Error

    public var description: String { "pipeline stage \"\(self.stage)\" (#\(self.stageIndex)) failed: \(self.underlying)" }
}

/// What a pipeline's entry does when the first stage's queue is full.
public enum PipelineOverflow: Sendable {
    /// Refuse at once with ``ConveyorError/queueFull(group:capacity:exhausted:)``.
    case reject
    /// Block the submitting thread until there is room, at most `timeout`.
    case wait(timeout: Duration)
}

/// One stage's figures.
public struct PipelineStageStatistics: Sendable {
    public var name: String
    public var workers: Int
    /// Items this stage finished (passed on or delivered) and items it failed.
    public var processed: Int
    public var failed: Int
    /// Items waiting in the stage's input ring now (its queue depth).
    public var queued: Int
    /// Items the stage's workers hold now (running, or waiting for room downstream).
    public var running: Int
    /// Items per second since the pipeline started.
    public var throughput: Double
    /// Queue wait (pushed into this stage's ring → taken) and service time, nanoseconds.
    public var queueWait: LatencyHistogram
    public var serviceTime: LatencyHistogram
}

/// What a stop (`shutdown(drain: false)`) left behind: items per stage that never finished
/// (they were failed with ``ConveyorError/notStarted(kind:)`` through the output).
public struct PipelineStopReport: Sendable, CustomStringConvertible {
    /// Stage name → items that were queued for that stage when it stopped.
    public var inFlight: [String: Int]
    /// Stage names in order (the keys of `inFlight`).
    public var stages: [String]

    public var description: String { self.stages.map { "\($0): \(self.inFlight[$0] ?? 0)" }.joined(separator: ", ") }
}

/// Builds a ``Pipeline``: stages in order, each with a typed input (the previous stage's
/// output) and output, its own workers and its own bounded queue.
///
/// ```swift
/// let pipeline = try PipelineBuilder(input: String.self)
///     .stage("parse", workers: 2) { line in try parse(line) }       // String → Record
///     .stage("store", workers: 1) { record in try store(record) }   // Record → Int64
///     .build { result in if case .failure(let error) = result { print(error) } }
/// try pipeline.submit("a,b,c")
/// let report = await pipeline.shutdown(drain: true)
/// ```
public struct PipelineBuilder<Input: Sendable, Output: Sendable>: Sendable {
    typealias Spec = PipelineStageSpec

    var specs: [Spec]

    /// Starts a pipeline whose items are of type `input`.
    public init(input: Input.Type) where Output == Input {
        self.specs = []
    }

    init(specs: [Spec]) { self.specs = specs }

    /// Adds a stage after the current last one.
    /// - Parameters:
    ///   - workers: OS threads of this stage (≥ 1). With one worker, the stage keeps the order
    ///     in which items reached it.
    ///   - capacity: the stage's input ring, a power of two (default 1024): how many items may
    ///     wait for it before the stage before it (or the entry) has to wait.
    public func stage<Next: Sendable>(
        _ name: String, workers: Int = 1, capacity: Int = 1024, _ body: @escaping @Sendable (Output) throws -> Next
    ) -> PipelineBuilder<Input, Next> {
        let spec = Spec(name: name, workers: workers, capacity: capacity) { value in try body(value as! Output) }
        return PipelineBuilder<Input, Next>(specs: self.specs + [spec])
    }

    /// Checks the stages and starts their workers. `output` receives every item's result
    /// exactly once, on the last stage's worker thread (or on the stopping thread for items a
    /// stop failed), in the order the last stage finished them.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for no stage, a stage of 0
    ///   workers, a blank or repeated stage name (the stage chain is linear by construction,
    ///   so it cannot hold a cycle; a repeated name would make the statistics and errors
    ///   ambiguous), a capacity that is not a power of two.
    public func build(
        overflow: PipelineOverflow = .wait(timeout: .seconds(60)),
        output: @escaping @Sendable (Result<Output, PipelineStageError>) -> Void
    ) throws -> Pipeline<Input, Output> {
        guard !self.specs.isEmpty else {
            throw ConveyorError.invalidConfiguration(reason: "a pipeline needs at least one stage: add one with stage(_:workers:_:)")
        }
        var names = Set<String>()
        for spec in self.specs {
            guard spec.name.contains(where: { !$0.isWhitespace }) else {
                throw ConveyorError.invalidConfiguration(reason: "a pipeline stage needs a visible name (got \"\(spec.name)\")")
            }
            guard names.insert(spec.name).inserted else {
                throw ConveyorError.invalidConfiguration(
                    reason: "pipeline stage \"\(spec.name)\" appears twice; stages run in a line and each needs its own name "
                        + "(a stage cannot feed an earlier one: no cycles)")
            }
            guard spec.workers >= 1, spec.workers <= 1024 else {
                throw ConveyorError.invalidConfiguration(
                    reason: "pipeline stage \"\(spec.name)\" has \(spec.workers) workers; give each stage 1...1024")
            }
        }
        return try Pipeline(specs: self.specs, overflow: overflow) { result in output(result.map { $0 as! Output }) }
    }
}

/// A stage as the builder collected it, its types erased.
struct PipelineStageSpec: Sendable {
    var name: String
    var workers: Int
    var capacity: Int
    var body: @Sendable (Any) throws -> Any
}

/// One item moving through the stages (one allocation per item, reused by every stage).
final class PipelineItem: @unchecked Sendable {
    // @unchecked: owned by one thread at a time; the rings' release/acquire hand it over.
    var value: Any
    var pushedTicks: UInt64

    init(value: Any, ticks: UInt64) {
        self.value = value
        self.pushedTicks = ticks
    }
}

/// A stage's runtime: its input ring, the parker its workers sleep on, the parker the stage
/// before it (or the entry) sleeps on while the ring is full, counters and per-worker histograms.
final class PipelineStageRuntime: @unchecked Sendable {
    // @unchecked: immutable after init, atomics, and histograms behind pthread mutexes.
    let name: String
    let index: Int
    let workers: Int
    let body: @Sendable (Any) throws -> Any
    let ring: MPMCRing
    let items: Parker
    let room: Parker
    let processed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let running = Atomic<Int>(0)
    let histograms: [PThreadMutex<(wait: LatencyHistogram, service: LatencyHistogram)>]

    init(spec: PipelineStageSpec, index: Int) throws {
        self.name = spec.name
        self.index = index
        self.workers = spec.workers
        self.body = spec.body
        do {
            self.ring = try MPMCRing(capacity: spec.capacity)
        } catch ConveyorError.invalidConfiguration(let reason) {
            throw ConveyorError.invalidConfiguration(reason: "pipeline stage \"\(spec.name)\": \(reason)")
        }
        self.items = try Parker()
        self.room = try Parker()
        self.histograms = (0..<spec.workers).map { _ in PThreadMutex((LatencyHistogram(), LatencyHistogram())) }
    }
}

/// Stages connected by the core's bounded MPMC rings, each with its own OS worker threads.
///
/// - **Backpressure:** a stage whose ring is full makes the stage before it wait (its worker
///   holds the item and sleeps until there is room), and at the entry `submit` waits or
///   refuses (``PipelineOverflow``). Memory is bounded by the rings' capacities plus one take
///   (≤ 32 items) per worker.
/// - **Ordering:** a ring is FIFO, so a stage with **one worker** passes items on in the
///   order they reached it; when every stage has one worker, outputs come in submit order
///   (per submitting thread). A stage with several workers may reorder items.
/// - **Errors:** an item whose stage throws is delivered as a ``PipelineStageError`` naming
///   the stage; the other items go on.
/// - **Shutdown:** `drain: true` refuses new items and returns once every accepted item came
///   out of the last stage; `drain: false` stops each worker after its current item and fails
///   what is still queued with `notStarted`, reporting the count per stage.
///
/// ```swift
/// let pipeline = try PipelineBuilder(input: Int.self)
///     .stage("double") { $0 * 2 }
///     .stage("format", workers: 2) { "\($0)" }
///     .build { result in print(result) }
/// try pipeline.submit(21)
/// await pipeline.shutdown(drain: true)
/// ```
public final class Pipeline<Input: Sendable, Output: Sendable>: @unchecked Sendable {
    // @unchecked: immutable after init apart from atomics and the stop report behind a mutex.
    let stages: [PipelineStageRuntime]
    let overflow: PipelineOverflow
    let output: @Sendable (Result<Any, PipelineStageError>) -> Void
    /// 0 running, 1 draining (entry closed), 2 stopping.
    let mode = Atomic<Int>(0)
    /// Items accepted and not yet delivered.
    let inside = Atomic<Int>(0)
    /// Submits under way (the entry waits for them to finish before it drains).
    let submitting = Atomic<Int>(0)
    let exited = DispatchGroup()
    let startNanoseconds = cnv_monotonic_ns()
    let stopReport = PThreadMutex<PipelineStopReport?>(nil)

    init(specs: [PipelineStageSpec], overflow: PipelineOverflow, output: @escaping @Sendable (Result<Any, PipelineStageError>) -> Void) throws {
        self.stages = try specs.enumerated().map { try PipelineStageRuntime(spec: $0.element, index: $0.offset) }
        self.overflow = overflow
        self.output = output
        _ = MonotonicClock.initialize()
        for stage in self.stages {
            for worker in 0..<stage.workers {
                self.exited.enter()
                let thread = Thread { [self] in
                    self.workerLoop(stage, worker: worker)
                    self.exited.leave()
                }
                thread.name = "conveyor.pipeline.\(stage.name).\(worker)"
                thread.start()
            }
        }
    }

    /// The stages' names, in order.
    public var stageNames: [String] { self.stages.map(\.name) }

    /// Puts an item into the first stage. Under ``PipelineOverflow/wait(timeout:)`` a full
    /// first stage blocks the calling thread until there is room.
    ///
    /// ```swift
    /// try pipeline.submit(42)
    /// ```
    /// - Throws: ``ConveyorError/shutDown`` after a shutdown began;
    ///   ``ConveyorError/queueFull(group:capacity:exhausted:)`` when the first stage is full
    ///   (at once under `.reject`, after the timeout under `.wait`).
    public func submit(_ input: Input) throws {
        self.submitting.add(1, ordering: .sequentiallyConsistent)
        defer { self.submitting.subtract(1, ordering: .sequentiallyConsistent) }
        guard self.mode.load(ordering: .sequentiallyConsistent) == 0 else { throw ConveyorError.shutDown }
        let first = self.stages[0]
        let item = PipelineItem(value: input, ticks: MonotonicClock.ticks())
        let address = UInt(bitPattern: Unmanaged.passRetained(item).toOpaque())
        self.inside.add(1, ordering: .relaxed)
        if first.ring.tryEnqueue(address) {
            first.items.unpark()
            return
        }
        let refuse = { (exhausted: ConveyorError.Exhausted) -> ConveyorError in
            Unmanaged<PipelineItem>.fromOpaque(UnsafeRawPointer(bitPattern: address)!).release()
            self.inside.subtract(1, ordering: .relaxed)
            return ConveyorError.queueFull(group: "pipeline stage \(first.name)", capacity: first.ring.capacity, exhausted: exhausted)
        }
        guard case .wait(let timeout) = self.overflow else { throw refuse(.ring(level: 0)) }
        var enqueued = false
        first.room.wait(spinning: 64, timeout: timeout) {
            if first.ring.tryEnqueue(address) {
                enqueued = true
                return true
            }
            return self.mode.load(ordering: .acquiring) == 2
        }
        if enqueued {
            first.items.unpark()
            return
        }
        if self.mode.load(ordering: .acquiring) == 2 {
            _ = refuse(.ring(level: 0))
            throw ConveyorError.shutDown
        }
        throw refuse(.waitTimeout(timeout))
    }

    /// Items a worker takes from its ring in one operation (one wake of the stage before it,
    /// one of the stage after it, one histogram lock per take instead of per item).
    static var takeSize: Int { 32 }

    private func workerLoop(_ stage: PipelineStageRuntime, worker: Int) {
        let next = stage.index + 1 < self.stages.count ? self.stages[stage.index + 1] : nil
        let batch = UnsafeMutableBufferPointer<UInt>.allocate(capacity: Self.takeSize)
        defer { batch.deallocate() }
        var timings: [(wait: UInt64, service: UInt64)] = []
        timings.reserveCapacity(Self.takeSize)
        while true {
            if self.mode.load(ordering: .acquiring) == 2 { return }  // stopping: after the current items
            // Several workers: at most a fair share each, so one does not take what others could run.
            var want = Self.takeSize
            if stage.workers > 1 { want = max(1, min(want, (stage.ring.count + stage.workers - 1) / stage.workers)) }
            let taken = stage.ring.dequeue(into: UnsafeMutableBufferPointer(rebasing: batch[0..<want]))
            guard taken > 0 else {
                let mode = self.mode.load(ordering: .acquiring)
                if mode == 2 { return }
                if mode == 1, self.inside.load(ordering: .acquiring) == 0 { return }
                stage.items.wait(spinning: 256, timeout: .milliseconds(100)) {
                    stage.ring.count > 0 || self.mode.load(ordering: .acquiring) != 0
                }
                if self.mode.load(ordering: .acquiring) == 1, stage.ring.count == 0 {
                    // Draining: sleep briefly between checks instead of spinning on the flag.
                    stage.items.wait(spinning: 0, timeout: .milliseconds(1)) { stage.ring.count > 0 || self.inside.load(ordering: .acquiring) == 0 }
                }
                continue
            }
            stage.room.unpark()
            stage.running.add(taken, ordering: .relaxed)
            var processed = 0
            var failed = 0
            var pushed = 0
            timings.removeAll(keepingCapacity: true)
            for position in 0..<taken {
                let address = batch[position]
                if position > 0, self.mode.load(ordering: .relaxed) == 2 {
                    // Stopping: the items not started here are in flight at this stage.
                    for rest in position..<taken { self.fail(batch[rest], notStartedAt: stage) }
                    stage.running.subtract(taken - position, ordering: .relaxed)
                    break
                }
                let item = Unmanaged<PipelineItem>.fromOpaque(UnsafeRawPointer(bitPattern: address)!).takeUnretainedValue()
                let start = MonotonicClock.ticks()
                let outcome = Result { try stage.body(item.value) }
                let end = MonotonicClock.ticks()
                timings.append((MonotonicClock.nanoseconds(from: item.pushedTicks, to: start), MonotonicClock.nanoseconds(from: start, to: end)))
                switch outcome {
                case .failure(let error):
                    failed += 1
                    self.deliver(address, .failure(PipelineStageError(stage: stage.name, stageIndex: stage.index, underlying: error)))
                case .success(let value):
                    processed += 1
                    if let next {
                        item.value = value
                        item.pushedTicks = end
                        if self.push(address, into: next) { pushed += 1 }
                    } else {
                        self.deliver(address, .success(value))
                    }
                }
                stage.running.subtract(1, ordering: .relaxed)
            }
            if pushed > 0, let next { next.items.unpark() }
            stage.histograms[worker].withLock { histograms in
                for timing in timings {
                    histograms.wait.record(timing.wait)
                    histograms.service.record(timing.service)
                }
            }
            if processed > 0 { stage.processed.add(processed, ordering: .relaxed) }
            if failed > 0 { stage.failed.add(failed, ordering: .relaxed) }
        }
    }

    /// Passes an item on, waiting (parked) while the next stage's ring is full; the caller
    /// wakes the next stage once per take. A stop while waiting leaves the item to the next
    /// stage's count of items in flight. Returns whether the item went into the ring.
    private func push(_ address: UInt, into next: PipelineStageRuntime) -> Bool {
        if next.ring.tryEnqueue(address) { return true }
        next.items.unpark()  // full: make sure its workers run
        var stopped = false
        next.room.wait(spinning: 256) {
            if next.ring.tryEnqueue(address) { return true }
            stopped = self.mode.load(ordering: .acquiring) == 2
            return stopped
        }
        if stopped {
            self.fail(address, notStartedAt: next)
            return false
        }
        return true
    }

    private func deliver(_ address: UInt, _ result: Result<Any, PipelineStageError>) {
        Unmanaged<PipelineItem>.fromOpaque(UnsafeRawPointer(bitPattern: address)!).release()
        self.output(result)
        self.inside.subtract(1, ordering: .acquiringAndReleasing)
    }

    private func fail(_ address: UInt, notStartedAt stage: PipelineStageRuntime) {
        self.stopReport.withLock { $0?.inFlight[stage.name, default: 0] += 1 }
        self.deliver(
            address,
            .failure(PipelineStageError(stage: stage.name, stageIndex: stage.index, underlying: ConveyorError.notStarted(kind: stage.name))))
    }

    /// Per-stage figures, in stage order.
    public var statistics: [PipelineStageStatistics] {
        let seconds = Double(cnv_monotonic_ns() &- self.startNanoseconds) / 1e9
        return self.stages.map { stage in
            var wait = LatencyHistogram()
            var service = LatencyHistogram()
            for histogram in stage.histograms {
                histogram.withLock {
                    wait.merge($0.wait)
                    service.merge($0.service)
                }
            }
            let processed = stage.processed.load(ordering: .relaxed)
            return PipelineStageStatistics(
                name: stage.name, workers: stage.workers, processed: processed, failed: stage.failed.load(ordering: .relaxed),
                queued: stage.ring.count, running: stage.running.load(ordering: .relaxed),
                throughput: seconds > 0 ? Double(processed) / seconds : 0, queueWait: wait, serviceTime: service)
        }
    }

    /// Stops the pipeline. `drain: true`: refuses new items, waits until every accepted item
    /// came out of the last stage, joins the workers, returns an empty report. `drain: false`:
    /// refuses new items, lets each worker finish its current item, joins them, and fails every
    /// item still queued with `notStarted` through the output; the report counts them per stage.
    /// Calling it again returns the first report.
    ///
    /// ```swift
    /// let report = await pipeline.shutdown(drain: false)
    /// print(report.inFlight)   // ["parse": 0, "store": 812]
    /// ```
    @discardableResult
    public func shutdown(drain: Bool = true) async -> PipelineStopReport {
        let names = self.stageNames
        let first = self.stopReport.withLock { report -> Bool in
            guard report == nil else { return false }
            report = PipelineStopReport(inFlight: Dictionary(uniqueKeysWithValues: names.map { ($0, 0) }), stages: names)
            return true
        }
        if !first {
            await self.waitForExit()
            return self.stopReport.withLock { $0! }
        }
        self.mode.store(drain ? 1 : 2, ordering: .sequentiallyConsistent)
        // Wake everyone to see the new mode; submits under way finish (or fail) first.
        while true {
            for stage in self.stages {
                stage.items.unparkAll()
                stage.room.unparkAll()
            }
            if self.submitting.load(ordering: .sequentiallyConsistent) == 0 { break }
            try? await Task.sleep(for: .microseconds(50))
        }
        await self.waitForExit()
        // Stopped: what is still queued never ran in its stage.
        for stage in self.stages {
            while let address = stage.ring.tryDequeue() { self.fail(address, notStartedAt: stage) }
        }
        return self.stopReport.withLock { $0! }
    }

    private func waitForExit() async {
        let exited = self.exited
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                exited.wait()
                continuation.resume()
            }
        }
    }
}
