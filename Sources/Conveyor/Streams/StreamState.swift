/// The shared state of one ``StreamResults`` stream: bytes in flight, finished chunks waiting
/// for the consumer, and the suspended producer and consumer. Used only under its mutex.
struct StreamState<Output: Sendable>: Sendable {
    struct Finished: Sendable {
        var outputs: [Output]
        var bytes: Int
    }

    typealias Consumer = CheckedContinuation<Finished?, any Error>

    let memoryLimit: Int
    let maxChunksInFlight: Int
    let ordered: Bool
    /// The processor's counters, updated under this state's lock so that they always agree.
    let counters: StreamCounters

    /// Bytes of accepted chunks not yet handed over in full to the consumer.
    var bytesInFlight = 0
    /// Chunks launched and not yet handed over in full to the consumer.
    var chunksInFlight = 0
    /// The producer, suspended until `wantedBytes` more fit.
    var producer: CheckedContinuation<Void, any Error>?
    var wantedBytes = 0
    /// The consumer, suspended until a chunk is ready or the stream ends.
    var consumer: Consumer?

    /// Finished chunks by sequence number (ordered) or in completion order (unordered).
    var ready: [Int: Finished] = [:]
    var readyQueue: [Finished] = []
    var readyHead = 0
    var nextToDeliver = 0

    /// Chunks admitted so far, and chunks handed to the consumer.
    var launched = 0
    var delivered = 0
    var inputFinished = false
    /// The error that ends the stream at once (a chunk's error, cancellation, a bad size).
    var failure: (any Error)?
    /// The input's error, reported after every chunk read before it is delivered.
    var inputFailure: (any Error)?
    var ended = false
    var driver: Task<Void, Never>?

    init(memoryLimit: Int, maxChunksInFlight: Int, ordered: Bool, counters: StreamCounters) {
        self.counters = counters
        self.memoryLimit = memoryLimit
        self.maxChunksInFlight = maxChunksInFlight
        self.ordered = ordered
    }

    /// Whether a chunk of `bytes` may start now. With nothing in flight any chunk may (its
    /// size was checked against the limit), so a stream always makes progress.
    func fits(_ bytes: Int) -> Bool {
        self.chunksInFlight == 0
            || (self.bytesInFlight + bytes <= self.memoryLimit && self.chunksInFlight < self.maxChunksInFlight)
    }

    mutating func take(_ bytes: Int) {
        self.bytesInFlight += bytes
        self.chunksInFlight += 1
        self.launched += 1
        self.counters.inFlight(bytesAdded: bytes)
    }

    /// The consumer is done with a chunk of `bytes`: returns the producer to resume when
    /// its next chunk now fits (already admitted).
    mutating func release(_ bytes: Int) -> CheckedContinuation<Void, any Error>? {
        guard !self.ended, self.failure == nil else { return nil }
        self.bytesInFlight -= bytes
        self.chunksInFlight -= 1
        self.counters.released(bytes: bytes)
        guard let producer = self.producer, self.fits(self.wantedBytes) else { return nil }
        self.producer = nil
        self.take(self.wantedBytes)
        return producer
    }

    /// When the consumer waits and something can be handed to it, takes the consumer and
    /// what to resume it with: the next chunk, the end (nil), or the error that ends it.
    mutating func deliverable() -> (Consumer?, Result<Finished?, any Error>?) {
        guard self.consumer != nil, let next = self.next() else { return (nil, nil) }
        let consumer = self.consumer
        self.consumer = nil
        return (consumer, next)
    }

    /// The next thing for the consumer, or nil when it must wait.
    mutating func next() -> Result<Finished?, any Error>? {
        if self.ended { return .success(nil) }
        if let failure = self.failure {
            self.ended = true
            return .failure(failure)
        }
        if self.ordered {
            if let finished = self.ready.removeValue(forKey: self.nextToDeliver) {
                self.nextToDeliver += 1
                self.delivered += 1
                return .success(finished)
            }
        } else if self.readyHead < self.readyQueue.count {
            let finished = self.readyQueue[self.readyHead]
            self.readyHead += 1
            if self.readyHead > 64, self.readyHead * 2 > self.readyQueue.count {
                self.readyQueue.removeFirst(self.readyHead)
                self.readyHead = 0
            }
            self.delivered += 1
            return .success(finished)
        }
        if self.inputFinished, self.delivered == self.launched {
            self.ended = true
            if let inputFailure = self.inputFailure { return .failure(inputFailure) }
            return .success(nil)
        }
        return nil
    }

    /// Ends the stream with `error` now: wakes the consumer and the producer, cancels the
    /// producer's task (which cancels every chunk not started) and drops finished chunks
    /// not yet consumed. Returns the bytes that were in flight (for the counters).
    @discardableResult
    static func fail(_ state: PThreadMutex<StreamState<Output>>, _ error: any Error) -> Int {
        let (consumer, producer, driver, bytes) = state.withLock { s in
            if s.failure == nil, !s.ended { s.failure = error }
            s.ready.removeAll()
            s.readyQueue.removeAll()
            s.readyHead = 0
            let consumer = s.consumer
            let producer = s.producer
            s.consumer = nil
            s.producer = nil
            if consumer != nil { s.ended = true }
            let bytes = s.bytesInFlight
            s.counters.released(bytes: bytes)
            s.bytesInFlight = 0
            s.chunksInFlight = 0
            return (consumer, producer, s.driver, bytes)
        }
        driver?.cancel()
        producer?.resume(throwing: error)
        consumer?.resume(throwing: error)
        return bytes
    }
}
