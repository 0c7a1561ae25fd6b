import CConveyor
@_spi(Testing) @testable import Conveyor
import Testing

/// The lock-free probe alone (no locked fallback): the value a reader finds for `key`.
private func readValue(_ key: Int, in cache: ResultCache<Int, Int>) -> Int? {
    let entryKey = EntryKey(kind: "", key: key)
    guard case .value(let value)? = cache.shards[0].readLookup(entryKey, now: 0) else { return nil }
    return value
}

@Suite("ResultCache: the one-word read table")
struct CacheReadTableTests {
    @Test("With more entries than 16-bit tags, readers find every key's own value, and nothing for absent or removed keys")
    func tagCollisionsAndTombstones() throws {
        // 70 000 entries in one shard: more than the 65 536 tags, so many entries share a tag
        // and probes must reject them on the full key.
        let count = 70_000
        let cache = try ResultCache<Int, Int>(maxEntries: count, policy: .lru, shards: 1)
        for key in 0..<count { try cache.insert(key &* 3, for: key) }
        var wrong = 0
        for key in 0..<count where readValue(key, in: cache) != key &* 3 { wrong += 1 }
        #expect(wrong == 0)
        var found = 0
        for key in count..<(count + 5_000) where readValue(key, in: cache) != nil { found += 1 }
        #expect(found == 0)
        // Remove every other key (tombstones), then insert new keys until the table compacts.
        for key in stride(from: 0, to: count, by: 2) { #expect(cache.invalidate(key: key)) }
        for key in stride(from: 0, to: count, by: 2) where readValue(key, in: cache) != nil { found += 1 }
        #expect(found == 0)
        for key in count..<(count + count / 2) { try cache.insert(key &* 3, for: key) }
        for key in stride(from: 1, to: count, by: 2) where readValue(key, in: cache) != key &* 3 { wrong += 1 }
        for key in count..<(count + count / 2) where readValue(key, in: cache) != key &* 3 { wrong += 1 }
        #expect(wrong == 0)
        #expect(cache.checkInvariants() == nil)
        #expect(cache.statistics.entries == count)
    }

    @Test("Replacing a value publishes the new one to readers at once")
    func replacement() throws {
        let cache = try ResultCache<Int, Int>(maxEntries: 64, shards: 1)
        for key in 0..<32 { try cache.insert(key, for: key) }
        for round in 1...50 {
            for key in 0..<32 { try cache.insert(key &+ round &* 1_000, for: key) }
            var wrong = 0
            for key in 0..<32 where readValue(key, in: cache) != key &+ round &* 1_000 { wrong += 1 }
            #expect(wrong == 0)
        }
        #expect(cache.checkInvariants() == nil)
    }

    @Test("A hit-sampling shift above 16 is a typed error")
    func sampleShiftBounds() throws {
        #expect(throws: ConveyorError.self) {
            try ResultCache<Int, Int>(
                maxEntries: 8, maxBytes: nil, ttl: nil, policy: .windowTinyLFU, cachesErrors: false, shards: nil,
                reclaimInterval: nil, clock: MonotonicCacheClock(), profiler: nil, name: "c", hitSampleShift: 17,
                size: { _ in 8 })
        }
        let exact = try ResultCache<Int, Int>(
            maxEntries: 8, maxBytes: nil, ttl: nil, policy: .windowTinyLFU, cachesErrors: false, shards: nil,
            reclaimInterval: nil, clock: MonotonicCacheClock(), profiler: nil, name: "c", hitSampleShift: 16,
            size: { _ in 8 })
        try exact.insert(1, for: 1)
        #expect(try exact.cachedValue(for: 1) == 1)
    }
}
