import Foundation

/// An OS thread that calls `tick` every `interval` until stopped. Sleeps on an NSCondition
/// (a pthread condition ThreadSanitizer understands), so `stop` wakes it at once.
final class MonitoringThread: @unchecked Sendable {
    // @unchecked: `running`, `finished` and `thread` are only touched under `condition`.
    private let condition = NSCondition()
    private var running = true
    private var finished = false
    private var thread = pthread_t()
    private var threadKnown = false

    init(interval: Duration, tick: @escaping @Sendable () -> Void) {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) * 1e-18
        let worker = Thread { [self] in
            self.condition.lock()
            self.thread = pthread_self()
            self.threadKnown = true
            while self.running {
                let deadline = Date(timeIntervalSinceNow: seconds)
                while self.running, self.condition.wait(until: deadline) {}
                guard self.running else { break }
                self.condition.unlock()
                tick()
                self.condition.lock()
            }
            self.finished = true
            self.condition.broadcast()
            self.condition.unlock()
        }
        worker.name = "conveyor-memory-monitor"
        worker.start()
    }

    /// Stops the thread and waits for it to exit (unless called from the thread itself).
    func stop() {
        self.condition.lock()
        self.running = false
        self.condition.broadcast()
        let onOwnThread = self.threadKnown && pthread_equal(self.thread, pthread_self()) != 0
        while !onOwnThread, !self.finished {
            self.condition.wait()
        }
        self.condition.unlock()
    }
}
