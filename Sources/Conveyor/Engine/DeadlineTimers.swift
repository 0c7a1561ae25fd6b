import CConveyor
import Foundation

/// One timer thread per engine for the deadlines of `run` tasks: a min-heap of deadlines
/// and a table of the live timers, both under one lock.
///
/// Why not a sleeping Swift task per deadline: `Task.sleep` leaves its wake-up registered
/// with the executor until the original deadline even when the task is cancelled (about
/// 130 B per cancelled 1 h sleep, measured), so memory grew with every finished task.
/// Here a settled task's timer leaves the table at once; the heap drops cancelled entries
/// lazily and is rebuilt whenever it holds more than twice the live timers, so memory stays
/// proportional to the tasks still waiting, not to those that finished.
final class DeadlineTimers: @unchecked Sendable {
    // @unchecked: every mutable field is read and written only while `condition` is locked.
    private let condition = NSCondition()
    private var live: [UInt64: @Sendable () -> Void] = [:]
    private var heap: [(deadline: UInt64, id: UInt64)] = []
    private var nextID: UInt64 = 1
    private var started = false
    private var stopped = false

    /// Calls `fire` on the timer thread once `delay` passed, unless cancelled first.
    /// Returns the id for ``cancel(_:)``, or nil after ``stop()``.
    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> UInt64? {
        let deadline = cnv_monotonic_ns() &+ UInt64(max(0, delay.clampedForEngine.nanoseconds))
        self.condition.lock()
        defer { self.condition.unlock() }
        guard !self.stopped else { return nil }
        let id = self.nextID
        self.nextID &+= 1
        self.live[id] = fire
        self.push((deadline, id))
        if !self.started {
            self.started = true
            let thread = Thread { [self] in self.loop() }
            thread.name = "conveyor.deadlines"
            thread.start()
        }
        if self.heap.first?.id == id { self.condition.signal() }  // a new earliest deadline
        return id
    }

    /// Drops a timer that has not fired (its task settled).
    func cancel(_ id: UInt64) {
        self.condition.lock()
        defer { self.condition.unlock() }
        guard self.live.removeValue(forKey: id) != nil else { return }
        if self.heap.count > 2 * self.live.count + 64 { self.rebuild() }
    }

    /// Stops the thread; timers not fired are dropped.
    func stop() {
        self.condition.lock()
        self.stopped = true
        self.live.removeAll()
        self.heap.removeAll()
        self.condition.signal()
        self.condition.unlock()
    }

    /// Timers not yet fired or cancelled (for tests).
    var count: Int {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.live.count
    }

    private func loop() {
        self.condition.lock()
        while !self.stopped {
            guard let top = self.heap.first else {
                self.condition.wait()
                continue
            }
            guard self.live[top.id] != nil else {
                self.pop()
                continue
            }
            let now = cnv_monotonic_ns()
            if top.deadline <= now {
                self.pop()
                let fire = self.live.removeValue(forKey: top.id)
                self.condition.unlock()
                fire?()
                self.condition.lock()
            } else {
                _ = self.condition.wait(until: Date(timeIntervalSinceNow: Double(top.deadline - now) / 1e9))
            }
        }
        self.condition.unlock()
    }

    // MARK: Binary min-heap on deadline

    private func push(_ entry: (deadline: UInt64, id: UInt64)) {
        self.heap.append(entry)
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.heap[child].deadline < self.heap[parent].deadline else { break }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    private func pop() {
        let last = self.heap.removeLast()
        guard !self.heap.isEmpty else { return }
        self.heap[0] = last
        self.siftDown(from: 0)
    }

    private func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < self.heap.count else { return }
            var smallest = left
            if left + 1 < self.heap.count, self.heap[left + 1].deadline < self.heap[left].deadline { smallest = left + 1 }
            guard self.heap[smallest].deadline < self.heap[parent].deadline else { return }
            self.heap.swapAt(smallest, parent)
            parent = smallest
        }
    }

    /// Keeps only the live timers' entries (after many cancels).
    private func rebuild() {
        self.heap.removeAll { self.live[$0.id] == nil }
        var index = self.heap.count / 2
        while index > 0 {
            index -= 1
            self.siftDown(from: index)
        }
        if self.heap.capacity > 4 * max(self.heap.count, 64) { self.heap = Array(self.heap) }
    }
}
