#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a `pthread_mutex_t`, for state that is written off the per-task path.
///
/// `Synchronization.Mutex` parks on a futex that ThreadSanitizer does not see on Linux, so TSan
/// reports the accesses it protects as races. A pthread mutex is intercepted by TSan, so the
/// tests of every part that uses it (routing, engine, memory, profiler) run under it with no false reports.
///
/// ```swift
/// let counts = PThreadMutex([String: Int]())
/// counts.withLock { $0["email", default: 0] += 1 }
/// ```
final class PThreadMutex<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `value` is read and written only between lock and unlock.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        self.mutex = .allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        // A default (non-robust, non-recursive) mutex cannot fail to initialize on Linux.
        pthread_mutex_init(self.mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        self.mutex.deinitialize(count: 1)
        self.mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return try body(&self.value)
    }
}
