import CConveyor

/// Parks threads on a futex until work arrives, making no system call when nobody sleeps.
///
/// A consumer spins briefly, then parks; a producer calls ``unpark(_:)`` after publishing
/// work, which costs one fence and one load when no thread is parked.
///
/// ```swift
/// let parker = try Parker()
/// // consumer thread
/// parker.wait(spinning: 100) { ring.count > 0 }
/// // producer thread, after ring.tryEnqueue(…)
/// parker.unpark()
/// ```
public final class Parker: @unchecked Sendable {
    // @unchecked: all state lives in C atomics and the futex word.
    @usableFromInline let parker: OpaquePointer

    public init() throws {
        var created: OpaquePointer?
        let status = cnv_parker_create(&created)
        guard status == CNV_OK.rawValue, let created else {
            throw ConveyorError.fromStatus(status, context: "a Parker")
        }
        self.parker = created
    }

    deinit {
        cnv_parker_destroy(self.parker)
    }

    /// Wakes up to `count` parked threads. Returns `true` when a wake system call was made
    /// (only when some thread is parked).
    @inlinable
    @discardableResult
    public func unpark(_ count: Int32 = 1) -> Bool {
        cnv_parker_unpark(self.parker, count)
    }

    /// Wakes every parked thread.
    @inlinable
    @discardableResult
    public func unparkAll() -> Bool {
        cnv_parker_unpark(self.parker, Int32.max)
    }

    /// Returns once `isReady()` is true: checks it `spinning` times with a CPU pause in
    /// between, then parks until woken and checks again. With a `timeout`, returns `false`
    /// if it passed and `isReady()` is still false.
    ///
    /// `isReady` must read state that the waking thread writes *before* it calls
    /// ``unpark(_:)``; then no wake-up is lost.
    @inlinable
    @discardableResult
    public func wait(spinning: Int = 64, timeout: Duration? = nil, until isReady: () -> Bool) -> Bool {
        for _ in 0..<spinning {
            if isReady() { return true }
            cnv_cpu_relax()
        }
        let clock = ContinuousClock()
        // Clamped: `now + .seconds(Int64.max)` and its nanoseconds would overflow.
        let deadline = timeout.map { clock.now + $0.clampedForEngine }
        while true {
            let epoch = cnv_parker_prepare(self.parker)
            if isReady() {
                cnv_parker_cancel(self.parker)
                return true
            }
            var timeoutNanoseconds: Int64 = -1
            if let deadline {
                let remaining = clock.now.duration(to: deadline)
                if remaining <= .zero {
                    cnv_parker_cancel(self.parker)
                    return isReady()
                }
                timeoutNanoseconds = remaining.nanoseconds
            }
            _ = cnv_parker_park(self.parker, epoch, timeoutNanoseconds)
            if isReady() { return true }
        }
    }

    /// Threads currently parked or about to park.
    public var sleepers: Int { Int(cnv_parker_sleepers(self.parker)) }
    /// Wake system calls made so far.
    public var wakeSystemCalls: Int { Int(cnv_parker_wake_syscalls(self.parker)) }
    /// Wait system calls made so far.
    public var waitSystemCalls: Int { Int(cnv_parker_wait_syscalls(self.parker)) }
}
