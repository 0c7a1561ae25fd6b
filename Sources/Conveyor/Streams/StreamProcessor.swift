import Synchronization

/// Processes an `AsyncSequence` in chunks through a ``ResourceGroup`` and yields the results
/// as an `AsyncSequence`, with backpressure from the consumer and a bound on memory.
///
/// Inputs are gathered into chunks of `chunkSize`; each chunk runs as one task on the
/// engine (``Conveyor/run(_:_:)`` with `task`), applying `transform` to every element. Each
/// chunk is charged its inputs' sizes (as `size` measures them) plus the stream's own storage
/// for it (its input and result arrays, its tasks). The producer (the loop reading the input)
/// is suspended while the charges of the chunks in flight — accepted and not yet consumed —
/// plus the next chunk would exceed `memoryLimit`, so memory stays within the limit plus the
/// chunk being gathered, however long the input. What `size` does not see is not bounded:
/// heap storage an `Output` owns beyond its inline stride.
/// Results come out in input order unless `ordered` is false (then in the order chunks
/// finish, which avoids waiting behind a slow chunk).
///
/// ```swift
/// let processor = try StreamProcessor<Record, Summary>(
///     conveyor: conveyor, task: QueueTask(kind: "summarize", group: "cpu"),
///     chunkSize: 1_000, memoryLimit: 64 << 20, size: { $0.payload.count }
/// ) { record in Summary(record) }
/// for try await summary in processor.process(records) {   // records: some AsyncSequence<Record, any Error>
///     write(summary)
/// }
/// ```
///
/// Errors end the output: an input that throws ends it with that error after the chunks
/// already read; a chunk whose `transform` throws, a negative size or a chunk larger than
/// `memoryLimit` end it at once. Cancelling the consuming task, or dropping the iterator,
/// stops reading the input and cancels the chunks that have not started; nothing runs
/// after the stream ends and nothing it held stays allocated.
public final class StreamProcessor<Input: Sendable, Output: Sendable>: Sendable {
    /// Inputs per chunk (one engine task each).
    public let chunkSize: Int
    /// The most bytes held by chunks in flight: their inputs as `size` measures them plus the
    /// stream's storage for each chunk.
    public let memoryLimit: Int
    /// Whether results keep the input's order.
    public let ordered: Bool
    /// The most chunks in flight at once, whatever their bytes (so tiny inputs do not flood
    /// the engine with tasks).
    public let maxChunksInFlight: Int
    /// The task each chunk runs as (kind, group, priority).
    public let task: QueueTask

    private let conveyor: Conveyor
    private let size: @Sendable (Input) -> Int
    private let transform: @Sendable (Input) throws -> Output
    private let profiler: PerformanceProfiler?
    private let chunkContext: String
    private let counters: StreamCounters

    /// Creates a processor.
    ///
    /// - Parameters:
    ///   - conveyor: the engine the chunks run on.
    ///   - task: the task each chunk runs as (default kind `"stream"`, routed as usual).
    ///   - chunkSize: inputs per chunk, at least 1 (default 1000).
    ///   - memoryLimit: the bytes in flight the producer may not exceed (default 100 MB).
    ///   - ordered: results in input order (default true).
    ///   - maxChunksInFlight: chunks in flight at most (default 16).
    ///   - profiler: records each chunk's latency (launch to finish) under `"\(name).chunk"`.
    ///   - name: the profiler context prefix (default `"stream"`).
    ///   - size: an input's size in bytes, never negative.
    ///   - transform: runs on a worker for every input.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` when `chunkSize`,
    ///   `memoryLimit` or `maxChunksInFlight` is below 1.
    public init(
        conveyor: Conveyor,
        task: QueueTask = QueueTask(kind: "stream"),
        chunkSize: Int = 1_000,
        memoryLimit: Int = 100_000_000,
        ordered: Bool = true,
        maxChunksInFlight: Int = 16,
        profiler: PerformanceProfiler? = nil,
        name: String = "stream",
        size: @escaping @Sendable (Input) -> Int,
        transform: @escaping @Sendable (Input) throws -> Output
    ) throws {
        guard chunkSize >= 1 else {
            throw ConveyorError.invalidConfiguration(reason: "StreamProcessor chunkSize is \(chunkSize); it must be at least 1 (default 1000)")
        }
        guard memoryLimit >= 1 else {
            throw ConveyorError.invalidConfiguration(reason: "StreamProcessor memoryLimit is \(memoryLimit); it must be at least 1 byte")
        }
        guard maxChunksInFlight >= 1 else {
            throw ConveyorError.invalidConfiguration(
                reason: "StreamProcessor maxChunksInFlight is \(maxChunksInFlight); it must be at least 1")
        }
        self.conveyor = conveyor
        self.task = task
        self.chunkSize = chunkSize
        self.memoryLimit = memoryLimit
        self.ordered = ordered
        self.maxChunksInFlight = maxChunksInFlight
        self.profiler = profiler
        self.chunkContext = "\(name).chunk"
        self.size = size
        self.transform = transform
        self.counters = StreamCounters()
    }

    /// The counters of every stream this processor ran (or is running).
    public var statistics: StreamStatistics { self.counters.snapshot() }

    /// Starts processing `input` when the returned sequence is first iterated. Iterate it
    /// once; a second iterator ends at once.
    ///
    /// ```swift
    /// for try await line in processor.process(file.lines) { print(line) }
    /// ```
    public func process<Source: AsyncSequence & Sendable>(_ input: Source) -> StreamResults<Output>
    where Source.Element == Input {
        let state = PThreadMutex(
            StreamState<Output>(
                memoryLimit: self.memoryLimit, maxChunksInFlight: self.maxChunksInFlight, ordered: self.ordered,
                counters: self.counters))
        return StreamResults(state: state) { [self] in
            Task { await self.drive(input, state: state) }
        }
    }

    // MARK: producer

    private func drive<Source: AsyncSequence & Sendable>(_ input: Source, state: PThreadMutex<StreamState<Output>>) async
    where Source.Element == Input {
        await withDiscardingTaskGroup { group in
            var iterator = input.makeAsyncIterator()
            var sequence = 0
            var exhausted = false
            while !exhausted, !Task.isCancelled {
                var chunk: [Input] = []
                chunk.reserveCapacity(self.chunkSize)
                var bytes = 0
                do {
                    while chunk.count < self.chunkSize {
                        guard let element = try await iterator.next() else {
                            exhausted = true
                            break
                        }
                        let elementBytes = self.size(element)
                        guard elementBytes >= 0 else {
                            StreamState<Output>.fail(
                                state,
                                ConveyorError.invalidConfiguration(
                                    reason: "the StreamProcessor size function returned \(elementBytes) for an input; sizes must be 0 or more"))
                            return
                        }
                        bytes += elementBytes
                        chunk.append(element)
                    }
                } catch {
                    // The input failed: what was read is accepted and processed; the error
                    // ends the output after it.
                    exhausted = true
                    state.withLock { $0.inputFailure = $0.inputFailure ?? error }
                }
                if chunk.isEmpty { break }
                guard bytes <= self.memoryLimit else {
                    StreamState<Output>.fail(
                        state,
                        ConveyorError.invalidConfiguration(
                            reason: "a StreamProcessor chunk of \(chunk.count) inputs holds \(bytes) bytes, over memoryLimit "
                                + "\(self.memoryLimit); lower chunkSize or raise memoryLimit"))
                    return
                }
                // A chunk is charged what it makes the process hold: its inputs as `size`
                // measures them plus the stream's own storage for it, so that the chunks in
                // flight fit the limit as the allocator counts them.
                let charged = bytes + Self.storageBytes(forChunkOf: chunk.count)
                do {
                    try await self.admit(charged, state: state)
                } catch {
                    return  // cancelled or failed: the stream has ended
                }
                let number = sequence
                sequence += 1
                self.counters.accepted(elements: chunk.count, bytes: charged)
                let inputs = ChunkInputs(chunk)
                chunk = []
                group.addTask {
                    await self.run(inputs, number: number, bytes: charged, state: state)
                }
            }
            let (consumer, finished) = state.withLock { s -> (CheckedContinuation<StreamState<Output>.Finished?, any Error>?, Result<StreamState<Output>.Finished?, any Error>?) in
                s.inputFinished = true
                return s.deliverable()
            }
            if let consumer, let finished { consumer.resume(with: finished) }
        }
    }

    /// The bytes the stream itself holds for a chunk of `count` inputs, beyond what `size`
    /// measures: the chunk's input array and its result array (inline strides plus the array
    /// header, rounded up as an allocator's size classes do, by at most a quarter plus 16
    /// bytes), and ``chunkTaskBytes`` for the tasks and closures that run it.
    static func storageBytes(forChunkOf count: Int) -> Int {
        func heapBlock(_ bytes: Int) -> Int { bytes + bytes / 4 + 16 }
        let inputs = heapBlock(32 + count * MemoryLayout<Input>.stride)
        let outputs = heapBlock(32 + count * MemoryLayout<Output>.stride)
        return inputs + outputs + chunkTaskBytes
    }

    /// What one chunk in flight holds in tasks, continuations, closure contexts and the
    /// engine's task record. Measured at about 3–7 KiB per chunk (debug build,
    /// StreamMemoryTests, jemalloc stats.allocated); charged with headroom.
    static var chunkTaskBytes: Int { 8 << 10 }

    /// Suspends until `bytes` more fit within the memory limit and a chunk slot is free.
    private func admit(_ bytes: Int, state: PThreadMutex<StreamState<Output>>) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { s in
                    if let failure = s.failure { return .failure(failure) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.fits(bytes) {
                        s.take(bytes)
                        return .success(())
                    }
                    s.wantedBytes = bytes
                    s.producer = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let producer = state.withLock { s in
                let waiting = s.producer
                s.producer = nil
                return waiting
            }
            producer?.resume(throwing: CancellationError())
        }
    }

    // MARK: chunks

    private func run(_ inputs: ChunkInputs<Input>, number: Int, bytes: Int, state: PThreadMutex<StreamState<Output>>) async {
        let transform = self.transform
        let start = MonotonicClock.ticks()
        let result: Result<[Output], any Error>
        do {
            // The body takes the inputs out of their box, so they are freed on the worker when
            // it returns, before the result is published: the bytes a chunk is counted for
            // are gone by the time the consumer releases them.
            result = .success(try await self.conveyor.run(self.task) { try inputs.take().map(transform) }.value)
        } catch {
            result = .failure(error)
        }
        if let profiler = self.profiler {
            profiler.record(nanoseconds: MonotonicClock.nanoseconds(from: start, to: MonotonicClock.ticks()), context: self.chunkContext)
        }
        self.counters.completed()
        switch result {
        case .success(let outputs):
            let (consumer, finished) = state.withLock { s -> (CheckedContinuation<StreamState<Output>.Finished?, any Error>?, Result<StreamState<Output>.Finished?, any Error>?) in
                guard !s.ended, s.failure == nil else { return (nil, nil) }
                let finished = StreamState<Output>.Finished(outputs: outputs, bytes: bytes)
                if s.ordered { s.ready[number] = finished } else { s.readyQueue.append(finished) }
                return s.deliverable()
            }
            if let consumer, let finished { consumer.resume(with: finished) }
        case .failure(let error):
            StreamState<Output>.fail(state, error)
        }
    }
}

/// A chunk's inputs, handed from the producer to the worker that runs the chunk (the engine's
/// queue orders the hand-off) and taken out exactly once.
final class ChunkInputs<Input: Sendable>: @unchecked Sendable {
    // @unchecked: written by the producer before the chunk is queued, then read and cleared
    // once by the worker that runs it; the engine's enqueue/dequeue is the synchronisation.
    private var inputs: [Input]

    init(_ inputs: [Input]) {
        self.inputs = inputs
    }

    func take() -> [Input] {
        defer { self.inputs = [] }
        return self.inputs
    }
}

extension StreamProcessor where Input: BitwiseCopyable {
    /// Creates a processor whose inputs are measured by their inline size
    /// (`MemoryLayout<Input>.stride`), exact for `BitwiseCopyable` values.
    ///
    /// ```swift
    /// let squares = try StreamProcessor<Int, Int>(conveyor: conveyor) { $0 * $0 }
    /// ```
    ///
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` also when one full chunk
    ///   (`chunkSize × stride`) alone exceeds `memoryLimit`.
    public convenience init(
        conveyor: Conveyor,
        task: QueueTask = QueueTask(kind: "stream"),
        chunkSize: Int = 1_000,
        memoryLimit: Int = 100_000_000,
        ordered: Bool = true,
        maxChunksInFlight: Int = 16,
        profiler: PerformanceProfiler? = nil,
        name: String = "stream",
        transform: @escaping @Sendable (Input) throws -> Output
    ) throws {
        let stride = MemoryLayout<Input>.stride
        let (chunkBytes, overflow) = chunkSize.multipliedReportingOverflow(by: stride)
        if chunkSize >= 1, memoryLimit >= 1, overflow || chunkBytes > memoryLimit {
            throw ConveyorError.invalidConfiguration(
                reason: "a StreamProcessor chunk of \(chunkSize) inputs of \(stride) bytes exceeds memoryLimit \(memoryLimit); "
                    + "lower chunkSize to at most \(memoryLimit / max(1, stride)) or raise memoryLimit")
        }
        try self.init(
            conveyor: conveyor, task: task, chunkSize: chunkSize, memoryLimit: memoryLimit, ordered: ordered,
            maxChunksInFlight: maxChunksInFlight, profiler: profiler, name: name, size: { _ in stride },
            transform: transform)
    }
}
