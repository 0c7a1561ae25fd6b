@testable import Conveyor
import Foundation
import Synchronization
import Testing

/// A value that counts its live instances, so a test can see the cache release what it held
/// (after the read table's grace period) instead of trusting the cache's own counters.
final class CountedValue: Sendable {
    static let live = Atomic<Int>(0)
    let key: Int
    let version: Int
    init(key: Int, version: Int) {
        self.key = key
        self.version = version
        Self.live.add(1, ordering: .relaxed)
    }
    deinit { Self.live.subtract(1, ordering: .relaxed) }
}

// CountedValue.live is process-wide: the suite runs its tests one at a time.
@Suite("ResultCache: the lock-free read path", .serialized)
struct CacheReadPathTests {
    @Test("Lock-free hits are counted exactly across threads")
    func exactHitCounts() throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 4_096)
        for key in 0..<1_000 { try cache.insert(key &* 7, for: key) }
        let lookups = StressScale.scaled(200_000, minimum: 20_000)
        let wrong = Tally()
        runOnThreads(3) { thread in
            for step in 0..<lookups {
                let key = (step &* 31 &+ thread) % 1_000
                if (try? cache.cachedValue(for: key)) != key &* 7 { wrong.increment() }
            }
        }
        #expect(wrong.count == 0)
        let stats = cache.statistics
        #expect(stats.hits == UInt64(3 * lookups))
        #expect(stats.misses == 0)
        #expect(cache.checkInvariants() == nil)
    }

    @Test("Buffered hits reach the policy before the next insert decides an eviction (LRU)")
    func bufferedHitsKeepRecency() throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 3, policy: .lru, shards: 1)
        for key in 1...3 { try cache.insert(key, for: key) }
        #expect(try cache.cachedValue(for: 1) == 1)  // a lock-free hit: 1 is now the most recent
        try cache.insert(4, for: 4)  // evicts the least recent: 2 (3 without the hit's record)
        #expect(try cache.cachedValue(for: 2) == nil)
        #expect(try cache.cachedValue(for: 1) == 1)
        #expect(try cache.cachedValue(for: 3) == 3)
        // Many hits between inserts (several drains on the way) keep the order too.
        for _ in 0..<100 {
            _ = try cache.cachedValue(for: 3)
            _ = try cache.cachedValue(for: 4)
        }
        try cache.insert(5, for: 5)  // 1 is the least recent now
        #expect(try cache.cachedValue(for: 1) == nil)
        #expect(try cache.cachedValue(for: 3) == 3)
        #expect(try cache.cachedValue(for: 4) == 4)
        #expect(cache.checkInvariants() == nil)
    }

    @Test("Readers, writers and invalidations on OS threads: every hit is a value stored for its key, and all memory comes back")
    func readersWritersInvalidation() throws {
        let baseline = CountedValue.live.load(ordering: .relaxed)
        do {
            let cache = try ResultCache<Int, CountedValue>(maxEntries: 256, shards: 4)
            let rounds = StressScale.scaled(60_000, minimum: 8_000)
            let wrong = Tally()
            let hits = Tally()
            runOnThreads(4) { thread in
                var random = SplitMix64(state: UInt64(thread) &+ 1)
                for step in 0..<rounds {
                    let key = Int(random.next() % 600)
                    if thread == 0 {
                        // The writer: replace, invalidate by key, by kind, everything.
                        switch step % 64 {
                        case 0: cache.invalidate(key: key)
                        case 1 where step % 4_096 == 1: cache.invalidateAll()
                        case 2 where step % 2_048 == 2: cache.invalidate(kind: "")
                        default: try? cache.insert(CountedValue(key: key, version: step), for: key)
                        }
                    } else if let value = try? cache.cachedValue(for: key) {
                        hits.increment()
                        // The object must be alive and belong to this key (a reclaimed entry
                        // would crash here, or under ASan, or show up in TSan).
                        if value.key != key || value.version < 0 { wrong.increment() }
                    }
                }
            }
            #expect(wrong.count == 0)
            #expect(hits.count > 0)
            #expect(cache.checkInvariants() == nil)
            let stats = cache.statistics
            #expect(stats.entries <= 256)
            #expect(stats.hits == UInt64(hits.count))
            // What the cache no longer holds is released after a grace period, except at most
            // one batch of retired entries per shard (64) that waits for more removals or a
            // flush; reclaimExpired() flushes them.
            let held = stats.entries
            let outstanding = { CountedValue.live.load(ordering: .relaxed) - baseline }
            #expect(eventually { outstanding() >= held && outstanding() <= held + 4 * 64 })
            cache.reclaimExpired()
            #expect(eventually { outstanding() == held })
            #expect(cache.invalidateAll() == held)
            #expect(eventually { CountedValue.live.load(ordering: .relaxed) == baseline })
        }
        // And a cache that goes away releases what it held.
        do {
            let cache = try ResultCache<Int, CountedValue>(maxEntries: 100)
            for key in 0..<100 { try cache.insert(CountedValue(key: key, version: 0), for: key) }
            for key in 0..<100 { try cache.insert(CountedValue(key: key, version: 1), for: key) }  // replaced
            #expect(try cache.cachedValue(for: 5)?.version == 1)
        }
        #expect(eventually { CountedValue.live.load(ordering: .relaxed) == baseline })
    }

    @Test("Single-flight stays exactly-once per invalidation while lock-free readers hit other keys")
    func singleFlightUnderReaders() async throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 1_024)
        for key in 1..<500 { try cache.insert(key, for: key) }
        let runs = Tally()
        let stop = Tally()
        let readerHits = Tally()
        let readerDone = DispatchSemaphore(value: 0)
        let readers = Thread {
            while !stop.isSet {
                for key in 1..<500 where (try? cache.cachedValue(for: key)) == key { readerHits.increment() }
            }
            readerDone.signal()
        }
        readers.start()
        let rounds = 20
        for round in 0..<rounds {
            let gate = AsyncGate()
            let values = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await cache.value(for: 0) {
                            runs.increment()
                            await gate.wait()
                            return round
                        }
                    }
                }
                #expect(await eventuallyAsync { cache.flightsInProgress == 1 })
                #expect(await eventuallyAsync { cache.statistics.coalesced == UInt64(199 * (round + 1)) })
                gate.open()
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(values.count == 200 && values.allSatisfy { $0 == round })
            #expect(runs.count == round + 1)
            #expect(try cache.cachedValue(for: 0) == round)
            #expect(cache.invalidate(key: 0))
        }
        stop.set()
        readerDone.wait()
        #expect(readerHits.count > 0)
        #expect(runs.count == rounds)
        #expect(cache.checkInvariants() == nil)
    }
}
