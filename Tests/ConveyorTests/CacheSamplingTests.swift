import CConveyor
@_spi(Testing) @testable import Conveyor
import Testing

/// A cache with an explicit hit-sampling shift (the public initializer uses the default).
private func sampledCache(
    maxEntries: Int, policy: ResultCache<Int, Int>.Policy = .windowTinyLFU, shards: Int = 1, shift: UInt32
) throws -> ResultCache<Int, Int> {
    try ResultCache<Int, Int>(
        maxEntries: maxEntries, maxBytes: nil, ttl: nil, policy: policy, cachesErrors: false, shards: shards,
        reclaimInterval: nil, clock: MonotonicCacheClock(), profiler: nil, name: "sampled",
        hitSampleShift: shift, size: { _ in 8 })
}

/// The sketch's estimate for `key` in a one-shard cache, after applying the buffered hits.
private func frequency(of key: Int, in cache: ResultCache<Int, Int>) -> Int {
    cache.shards[0].withLock { store in
        store.drainReads()
        return store.sketch.frequency(EntryKey(kind: "", key: key).hash)
    }
}

@Suite("ResultCache: sampled hit records")
struct CacheSamplingTests {
    @Test("Past an entry's exact records, hits are sampled at random, not by a stride that aliases a rotation")
    func samplingIsRandom() throws {
        let cache = try sampledCache(maxEntries: 1_000, shift: CNV_RT_DEFAULT_SAMPLE_SHIFT)
        let keys = 0..<16
        for key in keys { try cache.insert(key, for: key) }
        // Use up every entry's exact records, then forget them (four halvings of 4-bit counters).
        for _ in 0..<Int(CNV_RT_EXACT_HITS) {
            for key in keys { #expect(try cache.cachedValue(for: key) == key) }
        }
        cache.shards[0].withLock { store in
            store.drainReads()
            for _ in 0..<4 { store.sketch.age() }
        }
        for key in keys { #expect(frequency(of: key, in: cache) == 0) }
        // 16 keys in a fixed rotation, 16 × 300 hits: a one-in-16 stride per thread would
        // record the same key every time; a random draw reaches them all (the chance that a
        // key gets none of ~19 expected records is (15/16)^300 ≈ 4e-9).
        for _ in 0..<300 {
            for key in keys { #expect(try cache.cachedValue(for: key) == key) }
        }
        let estimates = keys.map { frequency(of: $0, in: cache) }
        #expect(estimates.allSatisfy { $0 > 0 }, "sketch estimates after sampled hits: \(estimates)")
        #expect(cache.statistics.hits == UInt64(16 * (Int(CNV_RT_EXACT_HITS) + 300)))
        #expect(cache.checkInvariants() == nil)
    }

    @Test("A sampled record weighs as many hits as it stands for in the sketch")
    func sampledRecordsAreWeighted() throws {
        let cache = try sampledCache(maxEntries: 1_000, shift: CNV_RT_DEFAULT_SAMPLE_SHIFT)
        try cache.insert(7, for: 7)
        for _ in 0..<Int(CNV_RT_EXACT_HITS) { _ = try cache.cachedValue(for: 7) }
        cache.shards[0].withLock { store in
            store.drainReads()
            for _ in 0..<4 { store.sketch.age() }
        }
        // Enough sampled hits that at least one record is all but certain ((15/16)^400 ≈ 6e-12);
        // weighted 16, one record saturates the 4-bit counters, unweighted it would add 1.
        for _ in 0..<400 { _ = try cache.cachedValue(for: 7) }
        #expect(frequency(of: 7, in: cache) == 15)
    }

    @Test("Hot keys hit far past their exact records keep their place through a one-pass scan", arguments: [UInt32(0), CNV_RT_DEFAULT_SAMPLE_SHIFT])
    func scanResistanceWhenSampled(shift: UInt32) throws {
        func survivors(_ policy: ResultCache<Int, Int>.Policy) throws -> Int {
            let cache = try sampledCache(maxEntries: 100, policy: policy, shift: shift)
            // 400 hits per hot key: all but the first 15 go through sampling (for shift > 0).
            for _ in 0..<400 {
                for key in 0..<50 where try cache.cachedValue(for: key) == nil { try cache.insert(key, for: key) }
            }
            // 2000 scanned keys: the sketch ages twice during the scan.
            for key in 1_000..<3_000 where try cache.cachedValue(for: key) == nil { try cache.insert(key, for: key) }
            #expect(cache.checkInvariants() == nil)
            return try (0..<50).filter { try cache.cachedValue(for: $0) != nil }.count
        }
        #expect(try survivors(.windowTinyLFU) >= 48)
        #expect(try survivors(.lru) == 0)
    }

    @Test("Hits are counted exactly on every thread whatever is sampled", arguments: [UInt32(0), CNV_RT_DEFAULT_SAMPLE_SHIFT])
    func exactCountsWhenSampled(shift: UInt32) throws {
        let cache = try sampledCache(maxEntries: 4_096, shards: 4, shift: shift)
        for key in 0..<500 { try cache.insert(key &* 5, for: key) }
        let lookups = StressScale.scaled(100_000, minimum: 10_000)
        let wrong = Tally()
        runOnThreads(3) { thread in
            for step in 0..<lookups {
                let key = (step &* 17 &+ thread) % 500
                if (try? cache.cachedValue(for: key)) != key &* 5 { wrong.increment() }
            }
        }
        #expect(wrong.count == 0)
        #expect(cache.statistics.hits == UInt64(3 * lookups))
        #expect(cache.checkInvariants() == nil)
    }
}
