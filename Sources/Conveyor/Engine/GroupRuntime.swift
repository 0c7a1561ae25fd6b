import CConveyor
import Foundation
import Synchronization

/// One priority level of a group: a slot ring (its slots hold the tasks themselves, or the
/// address of a slab record for tasks that need one), and an overflow queue for the spill policy.
final class Lane: Sendable {
    let ring: SlotRing
    let overflow: OverflowQueue?
    init(capacity: Int, spill: Bool) throws {
        self.ring = try SlotRing(capacity: capacity)
        self.overflow = spill ? try OverflowQueue() : nil
    }
}

/// Raw pointers to a group's C structures, for the per-task paths (submit, dequeue, wake).
/// A plain struct of pointers: copying it or reading it touches no reference count, so the
/// submitting thread and the workers share no cache line but the ring slots and indices.
/// The `GroupRuntime` that owns the objects outlives every use.
struct GroupHotPath {
    /// cnv_slot_ring* per priority lane.
    let rings: UnsafeMutablePointer<OpaquePointer>
    /// cnv_overflow_queue* per lane (spill policy only).
    let overflows: UnsafeMutablePointer<OpaquePointer?>
    /// Per lane: the time-stamp-counter tick of its last service (the aging clock), relaxed.
    let lastServed: UnsafeMutablePointer<UInt64>
    let laneCount: Int
    let handoff: OpaquePointer
    let parker: OpaquePointer
    let spills: Bool
    let agingTicks: UInt64

    @inline(__always)
    func lane(forLevel level: Int) -> Int {
        level < self.laneCount ? level : self.laneCount - 1
    }

    @inline(__always)
    func hasSpilled(_ lane: Int) -> Bool {
        guard self.spills, let overflow = self.overflows[lane] else { return false }
        return cnv_overflow_queue_count(overflow) > 0
    }

    /// Whether anything waits in any lane or the handoff queue (plain loads of indices).
    @inline(__always)
    var hasQueuedWork: Bool {
        if cnv_overflow_queue_count(self.handoff) > 0 { return true }
        for lane in 0..<self.laneCount {
            if cnv_slot_ring_count(self.rings[lane]) > 0 || self.hasSpilled(lane) { return true }
        }
        return false
    }

    func deallocate() {
        self.rings.deallocate()
        self.overflows.deallocate()
        self.lastServed.deallocate()
    }
}

/// The running state of one ResourceGroup: lanes, workers, parking.
final class GroupRuntime: @unchecked Sendable {
    // @unchecked: mutable state (`liveWorkers`) is guarded by `lock`; the rest is immutable
    // or atomic.
    enum Mode: Int {
        case running = 0
        case draining = 1
        case stopping = 2
    }

    let configuration: ResourceGroup
    let lanes: [Lane]
    /// Bytes the tasks in this group's overflow queues hold (`.spill` only; see
    /// `Conveyor.spillCharge(of:)`): added when a task spills, subtracted when a worker drains it.
    let spilledBytes = Atomic<Int>(0)
    /// The `.wait` policy's timeout, clamped to `Conveyor.longestDuration`; nil for other policies.
    let waitTimeout: Duration?
    /// Tasks a worker took but must not run (it is retiring or stopping); any worker takes
    /// these first. Unbounded, so handing back never fails for lack of room.
    let handoff: OverflowQueue
    let parker: Parker
    let targetWorkers: Atomic<Int>
    let mode = Atomic<Int>(Mode.running.rawValue)
    let agingNanoseconds: UInt64
    let running = DispatchGroup()
    /// One recorder per worker thread: counters and queue-wait / service histograms, merged on read.
    let recorders: RecorderSet
    let hot: GroupHotPath
    /// The limit on async tasks in flight and the ones waiting for a slot.
    let admission: AsyncAdmission

    private let resizing = Atomic<Bool>(false)
    private let lock = NSLock()
    private var liveWorkers = 0

    init(configuration: ResourceGroup, timing: Bool, sampleInterval: Int = 1) throws {
        self.configuration = configuration
        self.admission = AsyncAdmission(limit: configuration.asyncLimit ?? configuration.maxWorkers)
        if case .wait(let timeout) = configuration.overflow {
            self.waitTimeout = timeout.clampedForEngine
        } else {
            self.waitTimeout = nil
        }
        var spill = false
        if case .spill = configuration.overflow { spill = true }
        self.lanes = try (0..<configuration.priorityLevels).map { _ in
            try Lane(capacity: configuration.capacity, spill: spill)
        }
        self.handoff = try OverflowQueue()
        self.parker = try Parker()
        self.targetWorkers = Atomic(configuration.initialWorkers)
        self.agingNanoseconds = UInt64(max(1, configuration.agingBound.clampedForEngine.nanoseconds))
        let laneCount = self.lanes.count
        let rings = UnsafeMutablePointer<OpaquePointer>.allocate(capacity: laneCount)
        let overflows = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: laneCount)
        let lastServed = UnsafeMutablePointer<UInt64>.allocate(capacity: laneCount)
        for (position, lane) in self.lanes.enumerated() {
            (rings + position).initialize(to: lane.ring.ring)
            (overflows + position).initialize(to: lane.overflow?.queue)
            (lastServed + position).initialize(to: MonotonicClock.ticks())
        }
        let ticksPerNanosecond = Double(MonotonicClock.ticksPerSecond) / 1e9
        self.hot = GroupHotPath(
            rings: rings, overflows: overflows, lastServed: lastServed, laneCount: laneCount,
            handoff: self.handoff.queue, parker: self.parker.parker, spills: spill,
            agingTicks: UInt64(min(Double(UInt64.max >> 1), max(1, Double(self.agingNanoseconds) * ticksPerNanosecond))))
        // Workers, plus the threads that settle tasks during shutdown.
        self.recorders = try RecorderSet(layout: .tasks, capacity: configuration.maxWorkers + 8)
        self.recorders.timing = !timing ? .off : sampleInterval <= 1 ? .everyTask : .sampled(oneIn: sampleInterval)
    }

    deinit {
        self.hot.deallocate()
    }

    var name: String { self.configuration.name }

    var currentMode: Mode { Mode(rawValue: self.mode.load(ordering: .acquiring)) ?? .stopping }

    /// Tasks waiting (not yet taken by a worker).
    var queuedCount: Int {
        self.lanes.reduce(self.handoff.count) { $0 + $1.ring.count + ($1.overflow?.count ?? 0) }
    }

    // MARK: Workers

    /// Runs `body` with no other resize of this group under way.
    func serializeResizes(_ body: () async -> Void) async {
        while !self.resizing.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            try? await Task.sleep(nanoseconds: 200_000)
        }
        await body()
        self.resizing.store(false, ordering: .releasing)
    }

    /// Starts workers until `count` run (not once the group stops).
    func startWorkers(upTo count: Int, engine: Conveyor) {
        self.lock.withLock {
            while self.liveWorkers < count, self.currentMode == .running {
                let slot = self.liveWorkers
                self.liveWorkers += 1
                self.running.enter()
                let name = "conveyor.\(self.name).\(slot)"
                let thread = Thread { [self] in
                    // Foundation's `Thread.name` does not reach the kernel on Linux; tools
                    // (top -H, perf, gdb, /proc/PID/task/*/comm) read this one, 15 bytes at most.
                    _ = cnv_thread_set_name(Self.kernelThreadName(name))
                    engine.workerMain(group: self, slot: slot)
                    self.lock.withLock { self.liveWorkers -= 1 }
                    self.running.leave()
                }
                thread.name = name
                thread.start()
            }
        }
    }

    /// `name` cut to the 15 bytes Linux keeps for a thread's name, at a character boundary.
    static func kernelThreadName(_ name: String) -> String {
        var kept = ""
        for character in name {
            guard kept.utf8.count + character.utf8.count <= 15 else { break }
            kept.append(character)
        }
        return kept
    }

    var workerCount: Int { self.lock.withLock { self.liveWorkers } }

    /// Waits (without blocking a thread) until every worker of this group has exited.
    func waitForWorkersToExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.running.notify(queue: .global()) { continuation.resume() }
        }
    }

    /// Waits until at most `count` workers are alive.
    func waitForWorkers(atMost count: Int) async {
        var delay: UInt64 = 100_000
        while self.workerCount > count {
            try? await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 5_000_000)
        }
    }
}
