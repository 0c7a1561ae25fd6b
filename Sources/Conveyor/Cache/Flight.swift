/// One computation in flight for a key, and the callers waiting for it (single-flight).
/// Every field is read and written only under the lock of the shard that holds the key.
final class Flight<Value: Sendable>: @unchecked Sendable {
    // @unchecked: guarded by the shard's pthread mutex (see CacheShard).
    var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
    var nextWaiter = 0
    var task: Task<Void, Never>?
    /// Set when the computation finished; a waiter that registers after that resumes at once.
    var outcome: Result<Value, any Error>?

    func add(_ continuation: CheckedContinuation<Value, any Error>) -> Int {
        let id = self.nextWaiter
        self.nextWaiter += 1
        self.waiters[id] = continuation
        return id
    }
}

/// Which flight a suspended caller joined, for its cancellation handler (under the shard lock).
final class WaiterTicket<Value: Sendable>: @unchecked Sendable {
    // @unchecked: guarded by the shard's pthread mutex.
    var flight: Flight<Value>?
    var id = -1
}
