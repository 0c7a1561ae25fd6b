import Synchronization

/// The results of ``StreamProcessor/process(_:)``: an `AsyncSequence` that starts the stream
/// when first iterated. Iterate it once (a second iterator ends at once). Consuming slowly
/// is the backpressure: a chunk's bytes stay in flight until all its results were taken.
///
/// ```swift
/// var total = 0
/// for try await value in processor.process(numbers) { total += value }
/// ```
public struct StreamResults<Output: Sendable>: AsyncSequence, Sendable {
    public typealias Element = Output

    private let source: StreamSource<Output>

    init(state: PThreadMutex<StreamState<Output>>, start: @escaping @Sendable () -> Task<Void, Never>) {
        self.source = StreamSource(state: state, start: start)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(handle: self.source.claim())
    }

    /// Iterates ``StreamResults``; dropping it before the end cancels the stream.
    public struct Iterator: AsyncIteratorProtocol {
        private let handle: StreamHandle<Output>?
        private var buffer: [Output] = []
        private var position = 0
        private var heldBytes = 0
        private var holding = false

        init(handle: StreamHandle<Output>?) {
            self.handle = handle
        }

        public mutating func next() async throws -> Output? {
            while true {
                if self.position < self.buffer.count {
                    defer { self.position += 1 }
                    return self.buffer[self.position]
                }
                guard let handle = self.handle else { return nil }
                if self.holding {
                    // Done with the last chunk: its bytes leave flight, which may admit the
                    // producer's next chunk.
                    self.holding = false
                    self.buffer = []
                    self.position = 0
                    handle.release(self.heldBytes)
                }
                guard let finished = try await handle.nextChunk() else { return nil }
                self.buffer = finished.outputs
                self.position = 0
                self.heldBytes = finished.bytes
                self.holding = true
            }
        }
    }
}

/// Hands the stream to its first iterator only.
final class StreamSource<Output: Sendable>: Sendable {
    private let claimed = Atomic<Bool>(false)
    private let state: PThreadMutex<StreamState<Output>>
    private let start: @Sendable () -> Task<Void, Never>

    init(state: PThreadMutex<StreamState<Output>>, start: @escaping @Sendable () -> Task<Void, Never>) {
        self.state = state
        self.start = start
    }

    func claim() -> StreamHandle<Output>? {
        // Relaxed: the exchange only has to pick one winner; the state it then uses is
        // behind the mutex.
        guard !self.claimed.exchange(true, ordering: .relaxed) else { return nil }
        return StreamHandle(state: self.state, start: self.start)
    }
}

/// The consumer's side of one stream. Starts the producer on first use; its deinit (the
/// iterator dropped) ends the stream and cancels what is in flight.
final class StreamHandle<Output: Sendable>: Sendable {
    private let state: PThreadMutex<StreamState<Output>>
    private let start: @Sendable () -> Task<Void, Never>
    private let started = Atomic<Bool>(false)

    init(state: PThreadMutex<StreamState<Output>>, start: @escaping @Sendable () -> Task<Void, Never>) {
        self.state = state
        self.start = start
    }

    deinit {
        let running = self.state.withLock { !$0.ended }
        if running { StreamState<Output>.fail(self.state, CancellationError()) }
    }

    private func startIfNeeded() {
        // Relaxed: one winner; the driver is published under the mutex.
        guard !self.started.exchange(true, ordering: .relaxed) else { return }
        let driver = self.start()
        let stopped = self.state.withLock { s in
            s.driver = driver
            return s.ended || s.failure != nil
        }
        if stopped { driver.cancel() }
    }

    func release(_ bytes: Int) {
        let producer = self.state.withLock { $0.release(bytes) }
        producer?.resume()
    }

    func nextChunk() async throws -> StreamState<Output>.Finished? {
        self.startIfNeeded()
        let state = self.state
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: StreamState<Output>.Consumer) in
                let outcome: Result<StreamState<Output>.Finished?, any Error>? = state.withLock { s in
                    if let next = s.next() { return next }
                    s.consumer = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            StreamState<Output>.fail(state, CancellationError())
        }
    }
}
