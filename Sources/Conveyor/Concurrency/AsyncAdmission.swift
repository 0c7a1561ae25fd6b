import CConveyor
import Synchronization

/// A group's limit on async tasks in flight (suspended ones included), and the records that
/// wait for a slot.
///
/// A worker that takes an async task asks for a slot first (``admitOrPark(_:)``). Without
/// one, the record stays queued (its state word still says QUEUED, so a ticket cancels it and
/// its start deadline still holds) in `parked`, and the worker goes on with other work: a
/// worker never waits for an async task. Whoever gives a slot back (``release(group:engine:)``:
/// an async body that ended, or an admitted task that was cancelled or expired before it
/// started) passes it to the oldest parked record and starts it on the spot, as a worker
/// would (start deadline, cancellation, counters; its queue wait is not recorded in the
/// histogram). So at most `limit` async tasks of the group are ever admitted.
final class AsyncAdmission: @unchecked Sendable {
    // @unchecked: `state` is a lock; the counters are atomics.
    /// `cnv_task_record.flags` bit: the record holds one of its group's async slots (an
    /// engine-side bit; the C core defines only `CNV_TASK_FLAG_RETAINED`).
    static let admittedFlag: UInt16 = 0x8000

    struct State {
        var inFlight = 0
        var peak = 0
        /// Record addresses waiting for a slot, oldest first from `head`.
        var parked: [UInt] = []
        var head = 0
        var parkedCount: Int { self.parked.count - self.head }

        mutating func popFirst() -> UInt? {
            guard self.head < self.parked.count else { return nil }
            let address = self.parked[self.head]
            self.head += 1
            if self.head == self.parked.count {
                self.parked.removeAll(keepingCapacity: self.parked.count <= 4096)
                self.head = 0
            } else if self.head >= 1024, self.head * 2 >= self.parked.count {
                self.parked.removeFirst(self.head)
                self.head = 0
            }
            return address
        }
    }

    /// Async tasks in flight at once, at most (``ResourceGroup/asyncLimit``).
    let limit: Int
    /// pthread-based (ThreadSanitizer sees it). Taken once when an async task starts and once
    /// when it ends: uncontended, tens of nanoseconds against the microsecond of a Swift task.
    private let state = PThreadMutex<State>(State())
    /// Async bodies that returned, threw (counted here: they end off the workers' recorders).
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    /// Parked tasks cancelled or expired before a slot came (settled off the workers).
    let cancelled = Atomic<Int>(0)
    let expired = Atomic<Int>(0)

    /// Submitters of executor jobs under way, times 2, plus 1 once shutdown closed the gate.
    private let jobGate = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Enters the executor's job gate; false once shutdown closed it. acq_rel: pairs with
    /// `closeJobs`, so a job either is queued before the close completes or sees the close.
    @inline(__always)
    func enterJobs() -> Bool {
        if self.jobGate.add(2, ordering: .acquiringAndReleasing).newValue & 1 != 0 {
            self.jobGate.subtract(2, ordering: .releasing)
            return false
        }
        return true
    }

    @inline(__always)
    func leaveJobs() {
        self.jobGate.subtract(2, ordering: .releasing)
    }

    /// Closes the job gate and waits until no job submit is under way.
    func closeJobs() async {
        self.jobGate.bitwiseOr(1, ordering: .acquiringAndReleasing)
        while self.jobGate.load(ordering: .acquiring) != 1 { await Task.yield() }
    }

    /// Takes a slot for `address` (returns true) or parks it (false: the caller must leave
    /// the record alone).
    func admitOrPark(_ address: UInt) -> Bool {
        self.state.withLock { state in
            if state.inFlight < self.limit {
                state.inFlight += 1
                state.peak = max(state.peak, state.inFlight)
                return true
            }
            state.parked.append(address)
            return false
        }
    }

    /// Gives a slot back: to the oldest parked record (queued again, admitted, for a worker to
    /// settle), or to the pool. After a shutdown stopped the workers, parked records fail as
    /// not started instead.
    func release(group: GroupRuntime, engine: Conveyor) {
        while true {
            let next = self.state.withLock { state -> UInt? in
                if let address = state.popFirst() { return address }
                state.inFlight -= 1
                return nil
            }
            guard let address = next else { return }
            // Start it here, with the slot just freed (no hand-off to a worker, no wake-up);
            // one that was cancelled or expired meanwhile passes the slot on: loop.
            if group.currentMode == .stopping {
                engine.failParked(address, group: group)
            } else if engine.startParked(address, group: group) {
                return
            }
        }
    }

    /// Async tasks admitted and not yet ended.
    var inFlight: Int { self.state.withLock { $0.inFlight } }
    /// The most async tasks ever in flight at once.
    var peakInFlight: Int { self.state.withLock { $0.peak } }
    /// Async tasks waiting for a slot.
    var parkedCount: Int { self.state.withLock { $0.parkedCount } }
    /// Whether nothing is in flight or parked.
    var isIdle: Bool { self.state.withLock { $0.inFlight == 0 && $0.parkedCount == 0 } }

    /// The group's executor while anyone holds it (weak: the executor holds the group).
    private let executorCache = PThreadMutex<WeakExecutor>(WeakExecutor())

    struct WeakExecutor: @unchecked Sendable {
        weak var executor: GroupExecutor?
    }

    func executor(runtime: GroupRuntime, records: FixedSizeAllocator) -> GroupExecutor {
        self.executorCache.withLock { cache in
            if let executor = cache.executor { return executor }
            let executor = GroupExecutor(runtime: runtime, records: records)
            cache.executor = executor
            return executor
        }
    }

    /// Takes every parked record (shutdown without draining fails them).
    func takeParked() -> [UInt] {
        self.state.withLock { state in
            var all: [UInt] = []
            while let address = state.popFirst() { all.append(address) }
            return all
        }
    }
}
