import CConveyor

/// One result of ``Conveyor/results(of:for:options:_:)``: the position of its payload in
/// the input and what the task returned or threw.
public struct TaskOutput<Value: Sendable>: Sendable {
    /// The payload's position in the input sequence (0-based).
    public let index: Int
    public let result: Result<Value, any Error>

    /// The value, or the task's error (its own, `CancellationError`, or a ``ConveyorError``
    /// such as a queue that refused it or a shutdown that did not start it).
    public func get() throws -> Value { try self.result.get() }
}

/// How ``Conveyor/results(of:for:options:_:)`` yields and how far it runs ahead.
public struct ResultsOptions: Sendable, Hashable {
    public enum Order: Sendable, Hashable {
        /// As tasks finish.
        case completion
        /// In input order (a finished task waits for the ones before it).
        case submission
    }

    public var order: Order
    /// Tasks submitted and not yet consumed, at most (running, queued, or finished and
    /// waiting for the consumer): the input is read no further ahead. 1 to 2^20.
    public var maxInFlight: Int

    public init(order: Order = .completion, maxInFlight: Int = 256) {
        self.order = order
        self.maxInFlight = maxInFlight
    }
}

/// The results of running a body over a sequence of payloads as tasks of a group, as an
/// `AsyncSequence` with backpressure (see ``Conveyor/results(of:for:options:_:)``). Iterate it
/// once; leaving the loop early (or cancelling the consuming task) stops reading the input.
public struct TaskResults<Value: Sendable>: AsyncSequence, Sendable {
    public typealias Element = TaskOutput<Value>
    public typealias Failure = Never

    let state: ResultsState<Value>

    public func makeAsyncIterator() -> Iterator {
        Iterator(state: self.state, lifetime: ResultsLifetime(state: self.state))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let state: ResultsState<Value>
        /// Ends the stream when the last copy of the iterator goes away.
        let lifetime: ResultsLifetime<Value>

        public mutating func next() async -> TaskOutput<Value>? {
            await self.state.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> TaskOutput<Value>? {
            await self.state.next()
        }
    }
}

/// Cancels the stream when the iterator is dropped.
final class ResultsLifetime<Value: Sendable>: Sendable {
    let state: ResultsState<Value>
    init(state: ResultsState<Value>) { self.state = state }
    deinit { self.state.cancel() }
}

/// The shared state of one results stream: permits (`maxInFlight`), finished results not
/// yet consumed, and the waiting producer and consumer.
final class ResultsState<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `inner` is a lock; `producer` is set once before anyone can cancel.
    struct Inner {
        var permits: Int
        var buffered: [TaskOutput<Value>] = []
        var head = 0
        /// Submission order: finished results by index, and the next index to yield.
        var waitingByIndex: [Int: TaskOutput<Value>] = [:]
        var nextIndex = 0
        var consumed = 0
        /// Known once the producer read the whole input.
        var total: Int?
        var cancelled = false
        var producerWaiter: CheckedContinuation<Bool, Never>?
        var consumerWaiter: CheckedContinuation<TaskOutput<Value>?, Never>?
    }

    let ordered: Bool
    private let inner: PThreadMutex<Inner>
    private let producer = PThreadMutex<Task<Void, Never>?>(nil)

    init(options: ResultsOptions) {
        self.ordered = options.order == .submission
        self.inner = PThreadMutex(Inner(permits: options.maxInFlight))
    }

    func setProducer(_ task: Task<Void, Never>) {
        let cancelled = self.producer.withLock { producer in
            producer = task
            return self.inner.withLock { $0.cancelled }
        }
        if cancelled { task.cancel() }
    }

    /// Waits for a permit to submit one more task; false once the stream was cancelled.
    func acquire() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let granted: Bool? = self.inner.withLock { inner in
                if inner.cancelled { return false }
                if inner.permits > 0 {
                    inner.permits -= 1
                    return true
                }
                inner.producerWaiter = continuation
                return nil
            }
            if let granted { continuation.resume(returning: granted) }
        }
    }

    /// A task finished (on a worker, or wherever it was settled).
    func deliver(_ output: TaskOutput<Value>) {
        let handOff: (CheckedContinuation<TaskOutput<Value>?, Never>, TaskOutput<Value>, CheckedContinuation<Bool, Never>?)? =
            self.inner.withLock { inner in
                if inner.cancelled { return nil }
                if self.ordered {
                    inner.waitingByIndex[output.index] = output
                } else {
                    inner.buffered.append(output)
                }
                guard let consumer = inner.consumerWaiter, let ready = Self.take(&inner) else { return nil }
                inner.consumerWaiter = nil
                return (consumer, ready, Self.release(&inner))
            }
        if let (consumer, ready, producer) = handOff {
            producer?.resume(returning: true)
            consumer.resume(returning: ready)
        }
    }

    /// The producer read the whole input (`total` payloads).
    func producerFinished(total: Int) {
        let consumer: CheckedContinuation<TaskOutput<Value>?, Never>? = self.inner.withLock { inner in
            inner.total = total
            guard inner.consumed == total, let consumer = inner.consumerWaiter else { return nil }
            inner.consumerWaiter = nil
            return consumer
        }
        consumer?.resume(returning: nil)
    }

    func next() async -> TaskOutput<Value>? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TaskOutput<Value>?, Never>) in
                self.poll(continuation)
            }
        } onCancel: {
            self.cancel()
        }
    }

    /// Resumes `continuation` with the next result or the end, or keeps it until one arrives.
    private func poll(_ continuation: CheckedContinuation<TaskOutput<Value>?, Never>) {
        var ready: TaskOutput<Value>?
        var producer: CheckedContinuation<Bool, Never>?
        var end = false
        self.inner.withLock { inner in
            if inner.cancelled {
                end = true
            } else if let output = Self.take(&inner) {
                ready = output
                producer = Self.release(&inner)
            } else if let total = inner.total, inner.consumed == total {
                end = true
            } else {
                inner.consumerWaiter = continuation
            }
        }
        if let ready {
            producer?.resume(returning: true)
            continuation.resume(returning: ready)
        } else if end {
            continuation.resume(returning: nil)
        }
    }

    /// Ends the stream: the producer stops reading, a waiting consumer gets nil, results of
    /// tasks still running are dropped when they arrive.
    func cancel() {
        let (producerWaiter, consumerWaiter) = self.inner.withLock { inner in
            inner.cancelled = true
            inner.buffered.removeAll()
            inner.waitingByIndex.removeAll()
            defer {
                inner.producerWaiter = nil
                inner.consumerWaiter = nil
            }
            return (inner.producerWaiter, inner.consumerWaiter)
        }
        producerWaiter?.resume(returning: false)
        consumerWaiter?.resume(returning: nil)
        self.producer.withLock { $0 }?.cancel()
    }

    /// The next result to yield, if it finished.
    private static func take(_ inner: inout Inner) -> TaskOutput<Value>? {
        let ready: TaskOutput<Value>?
        if !inner.waitingByIndex.isEmpty || inner.buffered.isEmpty {
            ready = inner.waitingByIndex.removeValue(forKey: inner.nextIndex)
            if ready != nil { inner.nextIndex += 1 }
        } else {
            ready = inner.buffered[inner.head]
            inner.head += 1
            if inner.head == inner.buffered.count {
                inner.buffered.removeAll(keepingCapacity: true)
                inner.head = 0
            } else if inner.head >= 1024, inner.head * 2 >= inner.buffered.count {
                inner.buffered.removeFirst(inner.head)
                inner.head = 0
            }
        }
        if ready != nil { inner.consumed += 1 }
        return ready
    }

    /// A result was consumed: its permit returns (to the waiting producer, if any).
    private static func release(_ inner: inout Inner) -> CheckedContinuation<Bool, Never>? {
        if let producer = inner.producerWaiter {
            inner.producerWaiter = nil
            return producer
        }
        inner.permits += 1
        return nil
    }
}

/// One task of a results stream: the record's handler, holding its payload and index.
final class StreamedTask<Payload: Sendable, Value: Sendable>: TaskHandler, @unchecked Sendable {
    // @unchecked: immutable after init.
    let payload: Payload
    let index: Int
    let body: @Sendable (Payload) throws -> Value
    let state: ResultsState<Value>

    init(kind: String, payload: Payload, index: Int, body: @escaping @Sendable (Payload) throws -> Value, state: ResultsState<Value>) {
        self.payload = payload
        self.index = index
        self.body = body
        self.state = state
        super.init(kind: kind)
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> TaskOutcome {
        do {
            let value = try self.body(self.payload)
            self.state.deliver(TaskOutput(index: self.index, result: .success(value)))
            return .completed
        } catch {
            self.state.deliver(TaskOutput(index: self.index, result: .failure(error)))
            return .failedAndDelivered
        }
    }

    override func abandon(_ error: ConveyorError) -> Bool {
        let outcome: any Error = if case .cancelled = error { CancellationError() } else { error }
        self.state.deliver(TaskOutput(index: self.index, result: .failure(outcome)))
        return true
    }
}

extension Conveyor {
    /// Runs `body` over `payloads` as tasks of `task`'s group and yields their results as an
    /// `AsyncSequence`, in completion or input order, with backpressure: at most
    /// ``ResultsOptions/maxInFlight`` tasks are submitted and not yet consumed, so the input
    /// is read only as fast as results are taken and a consumer can go through millions of
    /// results without holding them. One object per task (its handler, with the payload); a
    /// task that fails, is refused, expires or is not started by a shutdown yields its error.
    ///
    /// ```swift
    /// for await output in try conveyor.results(of: QueueTask(kind: "thumb", group: "cpu"), for: imageIDs) { id in
    ///     try makeThumbnail(id)
    /// } {
    ///     print(output.index, try output.get())
    /// }
    /// ```
    /// - Throws: ``ConveyorError/unknownGroup(name:)``, or
    ///   ``ConveyorError/invalidConfiguration(reason:)`` for a negative deadline or a
    ///   `maxInFlight` outside 1…2^20.
    public func results<Payloads: Sequence & Sendable, Value: Sendable>(
        of task: QueueTask, for payloads: Payloads, options: ResultsOptions = ResultsOptions(),
        _ body: @escaping @Sendable (Payloads.Element) throws -> Value
    ) throws -> TaskResults<Value> where Payloads.Element: Sendable {
        guard (1...(1 << 20)).contains(options.maxInFlight) else {
            throw ConveyorError.invalidConfiguration(
                reason: "results maxInFlight \(options.maxInFlight) must be from 1 to \(1 << 20)")
        }
        let index = try self.route(task)
        let deadline = try Self.validatedDeadline(task.deadline, kind: task.kind)
        let level = task.priority.level
        let state = ResultsState<Value>(options: options)
        let producer = Task {
            var position = 0
            for payload in payloads {
                guard await state.acquire() else { break }
                let handler = StreamedTask(kind: task.kind, payload: payload, index: position, body: body, state: state)
                do {
                    let record = try self.makeRecord(
                        handler: Unmanaged.passRetained(handler).toOpaque(), retained: true, level: level, deadline: deadline)
                    _ = try await self.enqueueWaiting(record, level: level, group: index)
                } catch {
                    state.deliver(TaskOutput(index: position, result: .failure(error)))
                }
                position += 1
            }
            state.producerFinished(total: position)
        }
        state.setProducer(producer)
        return TaskResults(state: state)
    }
}
