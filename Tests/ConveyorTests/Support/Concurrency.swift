import Foundation
import Synchronization

/// Stress sizes scale with CONVEYOR_STRESS_SCALE (default 1): `make tsan` and `make asan`
/// run with a small scale so instrumented builds finish in minutes.
enum StressScale {
    static let factor: Double = {
        guard let text = ProcessInfo.processInfo.environment["CONVEYOR_STRESS_SCALE"],
            let value = Double(text), value > 0
        else { return 1 }
        return value
    }()

    /// `count` scaled, never below `minimum`.
    static func scaled(_ count: Int, minimum: Int = 1_000) -> Int {
        max(minimum, Int(Double(count) * self.factor))
    }
}

/// Runs `body(index)` on `count` new OS threads (not the Swift cooperative pool, which must
/// not be blocked by spinning) and returns when all have finished.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let finished = DispatchGroup()
    for index in 0..<count {
        finished.enter()
        let thread = Thread {
            body(index)
            finished.leave()
        }
        thread.start()
    }
    finished.wait()
}

/// Stops every thread of a stress test when one of them sees no progress for `limit`, so a
/// lost item fails the test (through its audit) instead of hanging it.
final class StallWatchdog: Sendable {
    private let stopped = Atomic<Bool>(false)
    let limit: Duration

    init(limit: Duration = .seconds(20)) {
        self.limit = limit
    }

    var hasStopped: Bool { self.stopped.load(ordering: .relaxed) }

    func stop() {
        self.stopped.store(true, ordering: .relaxed)
    }
}

/// Backs off politely while spinning (these tests run more threads than cores) and reports
/// a stall to the watchdog.
struct SpinWait {
    private var attempts = 0
    private var stalledSince: ContinuousClock.Instant?

    /// Call after an attempt that made no progress. Returns false when the test must give up.
    mutating func failed(_ watchdog: StallWatchdog) -> Bool {
        self.attempts += 1
        if self.attempts > 16 { sched_yield() }
        guard self.attempts % 1024 == 0 else { return true }
        if watchdog.hasStopped { return false }
        let now = ContinuousClock.now
        guard let since = self.stalledSince else {
            self.stalledSince = now
            return true
        }
        if since.duration(to: now) > watchdog.limit {
            watchdog.stop()
            return false
        }
        return true
    }

    mutating func progressed() {
        self.attempts = 0
        self.stalledSince = nil
    }
}

/// One bit per expected item, owned by a single thread while it records, merged afterwards.
/// A bitmap (not a count plus checksum) tells a loss from a duplicate: they cannot cancel out.
final class SeenBitmap: @unchecked Sendable {
    // @unchecked: each bitmap is written by one thread, then read after that thread joined.
    private let words: UnsafeMutableBufferPointer<UInt64>
    let bitCount: Int
    private(set) var duplicates = 0

    init(bitCount: Int) {
        self.bitCount = bitCount
        self.words = .allocate(capacity: (bitCount + 63) / 64)
        self.words.initialize(repeating: 0)
    }

    deinit {
        self.words.deallocate()
    }

    /// Records `index`; counts a duplicate when it was already recorded.
    func insert(_ index: Int) {
        let word = index >> 6
        let bit = UInt64(1) << UInt64(index & 63)
        if self.words[word] & bit != 0 { self.duplicates += 1 }
        self.words[word] |= bit
    }

    /// Merges several bitmaps; returns (items seen by no one, items seen more than once).
    static func audit(_ maps: [SeenBitmap]) -> (missing: Int, duplicated: Int) {
        guard let first = maps.first else { return (0, 0) }
        var missing = 0
        var duplicated = maps.reduce(0) { $0 + $1.duplicates }
        for word in 0..<first.words.count {
            var union: UInt64 = 0
            for map in maps {
                duplicated += (union & map.words[word]).nonzeroBitCount
                union |= map.words[word]
            }
            let bitsInWord = min(64, first.bitCount - word * 64)
            let expected: UInt64 = bitsInWord == 64 ? ~0 : (UInt64(1) << UInt64(bitsInWord)) - 1
            missing += (expected & ~union).nonzeroBitCount
        }
        return (missing, duplicated)
    }
}

/// A thread-safe tally shared by test threads.
final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)

    @discardableResult
    func add(_ amount: Int) -> Int {
        self.value.add(amount, ordering: .relaxed).newValue
    }

    var current: Int { self.value.load(ordering: .relaxed) }
}

/// A small deterministic random generator (SplitMix64), so model tests replay exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One seen bitmap per thread that records (handlers run on several worker threads at
/// once), created on first use through a pthread key and merged for the audit.
final class PerThreadBitmaps: @unchecked Sendable {
    // @unchecked: `maps` is only touched under `lock`; each bitmap is written by one thread.
    private var key = pthread_key_t()
    private let lock = NSLock()
    private var maps: [SeenBitmap] = []
    let bitCount: Int

    init(bitCount: Int) {
        self.bitCount = bitCount
        pthread_key_create(&self.key, nil)
    }

    deinit {
        pthread_key_delete(self.key)
    }

    func insert(_ index: Int) {
        if let raw = pthread_getspecific(self.key) {
            Unmanaged<SeenBitmap>.fromOpaque(raw).takeUnretainedValue().insert(index)
            return
        }
        let map = SeenBitmap(bitCount: self.bitCount)
        self.lock.withLock { self.maps.append(map) }
        pthread_setspecific(self.key, Unmanaged.passUnretained(map).toOpaque())
        map.insert(index)
    }

    func audit() -> (missing: Int, duplicated: Int) {
        self.lock.withLock { SeenBitmap.audit(self.maps) }
    }
}

/// A counting semaphore for test handlers (DispatchSemaphore is a pthread-level lock that
/// ThreadSanitizer understands).
typealias Gate = DispatchSemaphore

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}

/// The high-water mark of tasks running at once.
final class ConcurrencyMeter: Sendable {
    private let running = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)

    func enter() {
        let now = self.running.add(1, ordering: .relaxed).newValue
        var seen = self.peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = self.peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    func leave() {
        self.running.subtract(1, ordering: .relaxed)
    }

    var current: Int { self.running.load(ordering: .relaxed) }
    var maximum: Int { self.peak.load(ordering: .relaxed) }

    func resetPeak() {
        self.peak.store(self.running.load(ordering: .relaxed), ordering: .relaxed)
    }
}
