@testable import Conveyor
import Foundation
import Synchronization
import Testing

/// A clock the test moves by hand (TTL and single-flight timing without sleeping).
final class ManualCacheClock: CacheClock, @unchecked Sendable {
    private let current = PThreadMutex<Duration>(.zero)
    func now() -> Duration { self.current.withLock { $0 } }
    func advance(by step: Duration) { self.current.withLock { $0 += step } }
}

/// A gate a computation waits on until the test opens it; counts how many are waiting.
final class AsyncGate: Sendable {
    private let state = PThreadMutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = self.state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
    func open() {
        let waiters = self.state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Polls `condition` (yielding) until it holds or `limit` passes.
func eventuallyAsync(_ limit: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

struct CacheBoom: Error, Equatable { var code: Int }

/// A shared counter and flag for closures that run concurrently.
final class Tally: Sendable {
    private let value = Atomic<Int>(0)
    private let flag = Atomic<Bool>(false)
    @discardableResult
    func increment() -> Int { self.value.add(1, ordering: .relaxed).newValue }
    var count: Int { self.value.load(ordering: .relaxed) }
    func set() { self.flag.store(true, ordering: .relaxed) }
    var isSet: Bool { self.flag.load(ordering: .relaxed) }
}

@Suite("ResultCache: configuration and bad input")
struct CacheConfigurationTests {
    @Test("A capacity of 0 or less, a bad TTL, interval or shard count are typed errors")
    func badConfiguration() {
        let cases: [(String, () throws -> Void)] = [
            ("maxEntries is 0", { _ = try ResultCache<Int, Int>(maxEntries: 0) }),
            ("maxEntries is -5", { _ = try ResultCache<Int, Int>(maxEntries: -5) }),
            ("maxBytes is 0", { _ = try ResultCache<Int, Int>(maxEntries: 10, maxBytes: 0) }),
            ("ttl is -1.0 seconds", { _ = try ResultCache<Int, Int>(maxEntries: 10, ttl: .seconds(-1)) }),
            ("ttl is 0.0 seconds", { _ = try ResultCache<Int, Int>(maxEntries: 10, ttl: .zero) }),
            ("reclaimInterval", { _ = try ResultCache<Int, Int>(maxEntries: 10, reclaimInterval: .seconds(-2)) }),
            ("shards is 0", { _ = try ResultCache<Int, Int>(maxEntries: 10, shards: 0) }),
        ]
        for (phrase, make) in cases {
            #expect {
                try make()
            } throws: { error in
                guard case .invalidConfiguration(let reason) = error as? ConveyorError else { return false }
                return reason.contains(phrase)
            }
        }
    }

    @Test("A size function that returns a negative size is a typed error and nothing is cached")
    func negativeSize() async throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 10, maxBytes: 100, size: { $0 })
        await #expect {
            _ = try await cache.value(for: 1) { -3 }
        } throws: { error in
            guard case .invalidConfiguration(let reason) = error as? ConveyorError else { return false }
            return reason.contains("returned -3")
        }
        #expect(throws: ConveyorError.self) { try cache.insert(-1, for: 2) }
        #expect(cache.statistics.entries == 0)
        // The next call computes again (the error was not cached).
        #expect(try await cache.value(for: 1) { 7 } == 7)
    }

    @Test("Shard counts are powers of two and never exceed the capacity")
    func shardCounts() throws {
        #expect(try ResultCache<Int, Int>(maxEntries: 10).shardCount == 1)
        #expect(try ResultCache<Int, Int>(maxEntries: 100_000).shardCount == 16)
        #expect(try ResultCache<Int, Int>(maxEntries: 3, shards: 8).shardCount == 2)
        #expect(try ResultCache<Int, Int>(maxEntries: 100, shards: 5).shardCount == 8)
    }
}

@Suite("ResultCache: hits, capacity, TTL, errors, invalidation")
struct CacheBehaviourTests {
    @Test("A repeated key is computed once, then hit; kinds keep keys apart")
    func hitsAndKinds() async throws {
        let cache = try ResultCache<String, Int>(maxEntries: 100)
        let runs = Tally()
        for _ in 0..<5 {
            let value = try await cache.value(for: "a", kind: "len") {
                runs.increment()
                return 1
            }
            #expect(value == 1)
        }
        let other = try await cache.value(for: "a", kind: "upper") {
            runs.increment()
            return 2
        }
        #expect(other == 2)
        #expect(runs.count == 2)
        let stats = cache.statistics
        #expect(stats.hits == 4 && stats.misses == 2 && stats.entries == 2)
        #expect(try cache.cachedValue(for: "a", kind: "len") == 1)
        #expect(try cache.cachedValue(for: "b", kind: "len") == nil)
    }

    @Test("Entries stay within maxEntries under both policies, and evictions are counted", arguments: [true, false])
    func entryCapacity(tinyLFU: Bool) throws {
        let policy: ResultCache<Int, Int>.Policy = tinyLFU ? .windowTinyLFU : .lru
        let cache = try ResultCache<Int, Int>(maxEntries: 100, policy: policy, shards: 1)
        var generator = SystemRandomNumberGenerator()
        for step in 0..<5_000 {
            let key = step % 3 == 0 ? Int.random(in: 0..<20, using: &generator) : Int.random(in: 0..<10_000, using: &generator)
            if try cache.cachedValue(for: key) == nil { try cache.insert(key * 2, for: key) }
            #expect(cache.statistics.entries <= 100)
        }
        #expect(cache.checkInvariants() == nil)
        let stats = cache.statistics
        #expect(stats.entries == 100)
        #expect(stats.evictions > 0)
        for key in 0..<10_000 {
            if let value = try cache.cachedValue(for: key) { #expect(value == key * 2) }
        }
    }

    @Test("Bytes stay within maxBytes; a value larger than a shard's bytes is not stored")
    func byteCapacity() throws {
        let cache = try ResultCache<Int, [UInt8]>(maxEntries: 1_000, maxBytes: 10_000, shards: 1, size: { $0.count })
        for key in 0..<200 { try cache.insert([UInt8](repeating: 1, count: 100 + key % 50), for: key) }
        var stats = cache.statistics
        #expect(stats.bytes <= 10_000)
        #expect(stats.bytes > 9_000)
        #expect(stats.evictions > 0)
        // Measured, not from the cache's counter: add up what it still holds.
        var held = 0
        for key in 0..<200 { held += try cache.cachedValue(for: key)?.count ?? 0 }
        #expect(held == cache.statistics.bytes)
        try cache.insert([UInt8](repeating: 0, count: 20_000), for: 9_999)
        stats = cache.statistics
        #expect(stats.rejections == 1)
        #expect(try cache.cachedValue(for: 9_999) == nil)
        #expect(cache.checkInvariants() == nil)
    }

    @Test("TTL is checked on read with the injected clock; reclaimExpired removes stale entries")
    func ttl() async throws {
        let clock = ManualCacheClock()
        let cache = try ResultCache<Int, Int>(maxEntries: 100, ttl: .seconds(10), clock: clock)
        let runs = Tally()
        let compute: @Sendable () async throws -> Int = { runs.increment() }
        #expect(try await cache.value(for: 1, compute: compute) == 1)
        clock.advance(by: .seconds(9))
        #expect(try await cache.value(for: 1, compute: compute) == 1)  // still fresh
        try cache.insert(50, for: 2)
        clock.advance(by: .seconds(1))  // key 1 is exactly 10 s old: stale
        #expect(try cache.cachedValue(for: 1) == nil)
        #expect(try cache.cachedValue(for: 2) == 50)  // 1 s old
        #expect(cache.statistics.entries == 2)  // stale entries wait for reclamation
        #expect(try await cache.value(for: 1, compute: compute) == 2)  // recomputed
        clock.advance(by: .seconds(9))
        #expect(cache.reclaimExpired() == 1)  // key 2 (10 s old); key 1 was refreshed 9 s ago
        let stats = cache.statistics
        #expect(stats.entries == 1 && stats.expirations == 1)
        #expect(runs.count == 2)
    }

    @Test("The background sweep reclaims stale entries without any read")
    func backgroundSweep() async throws {
        let clock = ManualCacheClock()
        let cache = try ResultCache<Int, Int>(maxEntries: 100, ttl: .seconds(1), reclaimInterval: .milliseconds(5), clock: clock)
        for key in 0..<10 { try cache.insert(key, for: key) }
        #expect(cache.statistics.entries == 10)
        clock.advance(by: .seconds(2))
        #expect(await eventuallyAsync { cache.statistics.entries == 0 })
        #expect(cache.statistics.expirations == 10)
    }

    @Test("Errors are not cached unless asked; cancellation never is")
    func errors() async throws {
        let plain = try ResultCache<Int, Int>(maxEntries: 10)
        let runs = Tally()
        for _ in 0..<3 {
            await #expect(throws: CacheBoom(code: 1)) {
                _ = try await plain.value(for: 1) {
                    runs.increment()
                    throw CacheBoom(code: 1)
                }
            }
        }
        #expect(runs.count == 3)
        let caching = try ResultCache<Int, Int>(maxEntries: 10, cachesErrors: true)
        for _ in 0..<3 {
            await #expect(throws: CacheBoom(code: 2)) {
                _ = try await caching.value(for: 1) {
                    runs.increment()
                    throw CacheBoom(code: 2)
                }
            }
        }
        #expect(runs.count == 4)
        #expect(throws: CacheBoom(code: 2)) { _ = try caching.cachedValue(for: 1) }
        await #expect(throws: CancellationError.self) {
            _ = try await caching.value(for: 2) { throw CancellationError() }
        }
        #expect(try caching.cachedValue(for: 2) == nil)
    }

    @Test("Invalidation by key, by kind and of everything")
    func invalidation() throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 1_000)
        for key in 0..<10 {
            try cache.insert(key, for: key, kind: "a")
            try cache.insert(key, for: key, kind: "b")
            try cache.insert(key, for: key, kind: "c")
        }
        #expect(cache.invalidate(key: 3, kind: "a"))
        #expect(!cache.invalidate(key: 3, kind: "a"))
        #expect(try cache.cachedValue(for: 3, kind: "a") == nil)
        #expect(try cache.cachedValue(for: 3, kind: "b") == 3)
        #expect(cache.invalidate(kind: "b") == 10)
        #expect(try cache.cachedValue(for: 4, kind: "b") == nil)
        #expect(cache.statistics.entries == 19)
        #expect(cache.invalidateAll() == 19)
        #expect(cache.statistics.entries == 0 && cache.statistics.bytes == 0)
        #expect(cache.checkInvariants() == nil)
    }

    @Test("W-TinyLFU keeps a hot set through a one-pass scan; LRU loses it")
    func scanResistance() throws {
        func survivors(_ policy: ResultCache<Int, Int>.Policy) throws -> Int {
            let cache = try ResultCache<Int, Int>(maxEntries: 100, policy: policy, shards: 1)
            for _ in 0..<20 {
                for key in 0..<50 where try cache.cachedValue(for: key) == nil { try cache.insert(key, for: key) }
            }
            for key in 1_000..<2_000 where try cache.cachedValue(for: key) == nil { try cache.insert(key, for: key) }
            return try (0..<50).filter { try cache.cachedValue(for: $0) != nil }.count
        }
        #expect(try survivors(.windowTinyLFU) >= 48)
        #expect(try survivors(.lru) == 0)
    }
}

@Suite("ResultCache: single-flight and concurrency")
struct CacheSingleFlightTests {
    @Test("1000 concurrent identical lookups run the computation once and all get its value")
    func thousandWaiters() async throws {
        let clock = ManualCacheClock()
        let cache = try ResultCache<String, Int>(maxEntries: 10, ttl: .seconds(30), clock: clock)
        let gate = AsyncGate()
        let runs = Tally()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<1_000 {
                group.addTask {
                    try await cache.value(for: "report") {
                        runs.increment()
                        await gate.wait()
                        return 42
                    }
                }
            }
            // Every caller has joined before the computation may finish.
            #expect(await eventuallyAsync { cache.statistics.misses + cache.statistics.coalesced == 1_000 })
            clock.advance(by: .seconds(5))
            gate.open()
            var values: [Int] = []
            for try await value in group { values.append(value) }
            return values
        }
        #expect(values.count == 1_000 && values.allSatisfy { $0 == 42 })
        #expect(runs.count == 1)
        let stats = cache.statistics
        #expect(stats.misses == 1 && stats.coalesced == 999)
        #expect(cache.flightsInProgress == 0)
        // The entry's TTL runs from when the computation finished (t = 5 s) on the injected clock.
        clock.advance(by: .seconds(29))
        #expect(try cache.cachedValue(for: "report") == 42)
        clock.advance(by: .seconds(1))
        #expect(try cache.cachedValue(for: "report") == nil)
    }

    @Test("Waiters of a failing computation all get its error; it runs once")
    func sharedError() async throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 10)
        let gate = AsyncGate()
        let runs = Tally()
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do {
                        _ = try await cache.value(for: 7) {
                            runs.increment()
                            await gate.wait()
                            throw CacheBoom(code: 7)
                        }
                        return false
                    } catch {
                        return error as? CacheBoom == CacheBoom(code: 7)
                    }
                }
            }
            _ = await eventuallyAsync { cache.statistics.misses + cache.statistics.coalesced == 50 }
            gate.open()
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 50)
        #expect(runs.count == 1)
    }

    @Test("Cancelling one waiter does not cancel the computation; cancelling the last one does")
    func cancellation() async throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 10)
        let gate = AsyncGate()
        let sawCancellation = Tally()
        let compute: @Sendable () async throws -> Int = {
            await gate.wait()
            if Task.isCancelled { sawCancellation.set() }
            return 5
        }
        let first = Task { try await cache.value(for: 1, compute: compute) }
        let second = Task { try await cache.value(for: 1, compute: compute) }
        #expect(await eventuallyAsync { cache.statistics.coalesced == 1 })
        first.cancel()
        await #expect(throws: CancellationError.self) { _ = try await first.value }
        gate.open()
        #expect(try await second.value == 5)
        let sawIt = sawCancellation.isSet
        #expect(!sawIt)
        #expect(try cache.cachedValue(for: 1) == 5)

        // Every waiter cancelled: the computation is cancelled too and nothing is cached.
        let gate2 = AsyncGate()
        let cancelled = Tally()
        let lonely = Task {
            try await cache.value(for: 2) {
                await gate2.wait()
                if Task.isCancelled { cancelled.set() }
                try Task.checkCancellation()
                return 9
            }
        }
        #expect(await eventuallyAsync { cache.flightsInProgress == 1 })
        lonely.cancel()
        await #expect(throws: CancellationError.self) { _ = try await lonely.value }
        #expect(cache.flightsInProgress == 0)
        gate2.open()
        let wasCancelled = await eventuallyAsync { cancelled.isSet }
        #expect(wasCancelled)
        #expect(try cache.cachedValue(for: 2) == nil)
        // A new caller starts a new computation.
        #expect(try await cache.value(for: 2) { 10 } == 10)
    }

    @Test("Readers, writers and invalidators on OS threads keep every shard consistent")
    func threadStress() throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 512, maxBytes: 512 * 64, shards: 4, size: { _ in 64 })
        let rounds = StressScale.scaled(80_000, minimum: 10_000)
        let wrong = Tally()
        runOnThreads(4) { thread in
            var random = SystemRandomNumberGenerator()
            for step in 0..<rounds {
                let key = Int.random(in: 0..<2_000, using: &random)
                switch (step + thread) % 16 {
                case 0: try? cache.insert(key &* 3, for: key)
                case 1: if step % 1024 == 1 { cache.invalidate(key: key) }
                case 2: if step % 8192 == 2 { _ = cache.invalidate(kind: "") }
                default:
                    if let value = try? cache.cachedValue(for: key), value != key &* 3 { wrong.increment() }
                }
            }
        }
        #expect(wrong.count == 0)
        #expect(cache.checkInvariants() == nil)
        let stats = cache.statistics
        #expect(stats.entries <= 512 && stats.bytes <= 512 * 64)
    }

    @Test("Concurrent value(for:) on overlapping keys computes each key at most once while it is cached")
    func concurrentValues() async throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 1_000)
        let runs = Tally()
        let tasks = StressScale.scaled(8_000, minimum: 1_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<tasks {
                group.addTask {
                    let key = index % 100
                    let value = try await cache.value(for: key) {
                        runs.increment()
                        await Task.yield()
                        return key + 1
                    }
                    #expect(value == key + 1)
                }
            }
            try await group.waitForAll()
        }
        #expect(runs.count == 100)  // capacity 1000 > 100 keys: nothing evicted
        let stats = cache.statistics
        #expect(stats.hits + stats.misses + stats.coalesced == UInt64(tasks))
    }
}

@Suite("ResultCache: engine integration")
struct CacheEngineTests {
    @Test("A cached kind runs on its group once per payload; invalidation recomputes")
    func cachedKind() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2)])
        let cache = try ResultCache<Int, Int>(maxEntries: 100)
        let runs = Tally()
        let square = conveyor.cached(QueueTask(kind: "square", group: "cpu"), in: cache) { (n: Int) in
            runs.increment()
            return n * n
        }
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<200 { group.addTask { try await square(12) } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results.count == 200 && results.allSatisfy { $0 == 144 })
        #expect(runs.count == 1)
        #expect(try cache.cachedValue(for: 12, kind: "square") == 144)
        #expect(square.invalidate(12))
        #expect(try await square(12) == 144)
        #expect(runs.count == 2)
        let tripled = try await conveyor.run(QueueTask(kind: "triple"), cachedIn: cache, key: 5) { 15 }
        #expect(tripled == 15)
        #expect(try cache.cachedValue(for: 5, kind: "triple") == 15)
        #expect(square.invalidateAll() == 1)
        await conveyor.shutdown(drain: true)
    }

    @Test("The profiler records hits and misses under the cache's name")
    func profiler() async throws {
        let profiler = try PerformanceProfiler()
        let cache = try ResultCache<Int, Int>(maxEntries: 100, profiler: profiler, name: "prices")
        for _ in 0..<4 { _ = try await cache.value(for: 1) { 1 } }
        #expect(try profiler.summary(for: "prices.miss").calls == 1)
        #expect(try profiler.summary(for: "prices.hit").calls == 3)
    }
}
