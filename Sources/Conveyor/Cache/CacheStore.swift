import CConveyor

/// One shard's entries and eviction policy, always used under the shard's lock.
///
/// Every stored entry is also in the shard's read table (`table`, see ``CacheShard``), which
/// hits probe without the lock; the store keeps the two in step (insert, replace, remove)
/// and applies the hits that readers record there to the policy (`drainReads`).
///
/// Entries live in `slots` (a free list recycles them) and on intrusive doubly linked lists
/// by slot index: for W-TinyLFU the window (LRU, ~1 % of the capacity), then the main space
/// split into probation (~20 %) and protected (~80 %); for plain LRU one list. Index 0 of
/// each list's `head` is the most recently used end.
@usableFromInline
struct CacheStore<Key: Hashable & Sendable, Value: Sendable> {
    @usableFromInline
    enum Stored {
        case value(Value)
        case failure(any Error)
    }

    @usableFromInline
    struct Slot {
        /// The key, value and expiry (immutable; replaced as a whole).
        @usableFromInline var entry: CacheEntry<Key, Value>?
        @usableFromInline var bytes: Int = 0
        @usableFromInline var prev: Int32 = -1
        @usableFromInline var next: Int32 = -1
        @usableFromInline var list: UInt8 = 0
    }

    @inlinable static var window: Int { 0 }
    @inlinable static var probation: Int { 1 }
    @inlinable static var protected: Int { 2 }

    @usableFromInline var index: [EntryKey<Key>: Int32] = [:]
    @usableFromInline var slots: [Slot] = []
    private var free: [Int32] = []
    @usableFromInline var heads: [Int32] = [-1, -1, -1]
    @usableFromInline var tails: [Int32] = [-1, -1, -1]
    @usableFromInline var counts: [Int] = [0, 0, 0]
    @usableFromInline var sketch: FrequencySketch
    /// The read table (owned by the shard) and room for one drain's records.
    @usableFromInline let table: UnsafeMutablePointer<cnv_rt_table>
    @usableFromInline let drained: UnsafeMutablePointer<UInt64>

    @usableFromInline let tinyLFU: Bool
    /// How many hits a sampled record stands for in the sketch (2^shift of the read table).
    @usableFromInline let sampleWeight: Int
    let capacity: Int
    let windowCapacity: Int
    @usableFromInline let protectedCapacity: Int
    let maxBytes: Int
    private(set) var bytes = 0
    /// Bytes of entries removed or replaced since the read table last handed its retired
    /// entries to reclamation. Past 1/8 of `maxBytes` they are handed over at once, so that
    /// values waiting for a grace period never hold much memory beyond the byte bound.
    private var retiredBytes = 0

    // Counters, merged by ResultCache.statistics.
    @usableFromInline var hits: UInt64 = 0
    var misses: UInt64 = 0
    var coalesced: UInt64 = 0
    private(set) var evictions: UInt64 = 0
    private(set) var expirations: UInt64 = 0
    private(set) var rejections: UInt64 = 0

    /// Computations in flight, by key (single-flight).
    var flights: [EntryKey<Key>: Flight<Value>] = [:]

    init(capacity: Int, maxBytes: Int, tinyLFU: Bool, table: UnsafeMutablePointer<cnv_rt_table>, sampleWeight: Int) {
        self.table = table
        self.sampleWeight = sampleWeight
        self.drained = .allocate(capacity: Int(CNV_RT_STRIPES * CNV_RT_RECORDS))
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.tinyLFU = tinyLFU
        if tinyLFU {
            self.windowCapacity = max(1, capacity / 100)
            let main = capacity - self.windowCapacity
            self.protectedCapacity = main * 4 / 5
        } else {
            self.windowCapacity = 0
            self.protectedCapacity = 0
        }
        self.sketch = FrequencySketch(capacity: tinyLFU ? capacity : 1)
        self.index.reserveCapacity(min(capacity, 1 << 16))
    }

    var count: Int { self.index.count }

    /// Frees the drain buffer (the shard's deinit).
    func releaseBuffers() {
        self.drained.deallocate()
    }

    /// Hits counted: those of the locked path and those readers recorded in the table.
    var totalHits: UInt64 { self.hits &+ cnv_rt_hits(self.table) }

    // MARK: buffered hits

    /// Applies the hits readers recorded without the lock: each counts in the sketch (a
    /// sampled record, `CNV_RT_SAMPLED`, as `sampleWeight` hits) and touches its entry, as a
    /// locked hit would have. A record whose slot no longer holds an entry with that hash
    /// (removed or reused since) is skipped.
    @inlinable
    mutating func drainReads() {
        let count = cnv_rt_drain(self.table, self.drained)
        for index in 0..<count {
            let record = self.drained[index]
            let sampled = record >> 63 != 0  // CNV_RT_SAMPLED
            let slot = Int(truncatingIfNeeded: (record >> 32) & 0x7FFF_FFFF)
            guard slot < self.slots.count, let entry = self.slots[slot].entry,
                UInt32(truncatingIfNeeded: entry.key.hash) == UInt32(truncatingIfNeeded: record)
            else { continue }
            if self.tinyLFU { self.sketch.increment(entry.key.hash, by: sampled ? self.sampleWeight : 1) }
            self.touch(Int32(slot))
        }
    }

    // MARK: lookups

    /// Looks `key` up at `now` (nanoseconds; ignored when nothing expires). Counts a hit and
    /// updates recency and frequency when a fresh entry is found.
    @inlinable
    mutating func lookup(_ key: EntryKey<Key>, now: Int64) -> Stored? {
        self.drainReads()
        if self.tinyLFU { self.sketch.increment(key.hash) }
        guard let slot = self.index[key], let entry = self.slots[Int(slot)].entry else { return nil }
        if entry.expiresAt <= now { return nil }  // stale: a miss, reclaimed later
        self.touch(slot)
        self.hits &+= 1
        return entry.stored
    }

    /// Whether a fresh entry exists, without counting or touching it.
    func contains(_ key: EntryKey<Key>, now: Int64) -> Bool {
        guard let slot = self.index[key], let entry = self.slots[Int(slot)].entry else { return false }
        return entry.expiresAt > now
    }

    // MARK: insertion and eviction

    /// Stores `stored` for `key` (replacing an entry already there), then evicts until the
    /// shard is within its capacities. An entry larger than the shard's byte capacity is not
    /// stored (counted as a rejection).
    mutating func insert(_ key: EntryKey<Key>, _ stored: Stored, bytes: Int, expiresAt: Int64) {
        self.drainReads()
        if let slot = self.index[key] {
            let position = Int(slot)
            self.bytes += bytes - self.slots[position].bytes
            let entry = CacheEntry(key: key, stored: stored, expiresAt: expiresAt, slot: slot)
            let old = self.slots[position].entry
            let oldBytes = self.slots[position].bytes
            self.slots[position].entry = entry
            self.slots[position].bytes = bytes
            let published = Unmanaged.passRetained(entry).toOpaque()
            if let old {
                cnv_rt_replace(self.table, entry.tag, Unmanaged.passUnretained(old).toOpaque(), published)
                self.retired(bytes: oldBytes)
            } else {
                cnv_rt_insert(self.table, entry.tag, published)
            }
            self.touch(slot)
            self.evictOverBytes()
            return
        }
        guard bytes <= self.maxBytes else {
            self.rejections &+= 1
            return
        }
        let slot: Int32
        if let recycled = self.free.popLast() {
            slot = recycled
        } else {
            slot = Int32(self.slots.count)
            self.slots.append(Slot())
        }
        let entry = CacheEntry(key: key, stored: stored, expiresAt: expiresAt, slot: slot)
        self.slots[Int(slot)] = Slot(entry: entry, bytes: bytes)
        // The table's reference; released after a grace period once the entry leaves it.
        cnv_rt_insert(self.table, entry.tag, Unmanaged.passRetained(entry).toOpaque())
        self.index[key] = slot
        self.bytes += bytes
        if self.tinyLFU {
            self.pushFront(slot, list: Self.window)
            self.evictTinyLFU()
        } else {
            self.pushFront(slot, list: Self.probation)
            while self.counts[Self.probation] > self.capacity, self.tails[Self.probation] >= 0 {
                self.evict(self.tails[Self.probation])
            }
        }
        self.evictOverBytes()
    }

    /// Window overflow: its LRU entry is a candidate for the main space. It enters when the
    /// main space has room or when the sketch says it is used more often than the main
    /// space's victim (probation's LRU entry, else protected's); otherwise it is evicted.
    private mutating func evictTinyLFU() {
        let mainCapacity = self.capacity - self.windowCapacity
        while self.counts[Self.window] > self.windowCapacity {
            let candidate = self.tails[Self.window]
            self.unlink(candidate)
            if self.counts[Self.probation] + self.counts[Self.protected] < mainCapacity {
                self.pushFront(candidate, list: Self.probation)
                continue
            }
            var victim = self.tails[Self.probation]
            if victim < 0 { victim = self.tails[Self.protected] }
            guard victim >= 0 else {
                self.pushFront(candidate, list: Self.probation)
                self.evict(candidate)
                continue
            }
            let candidateHash = self.slots[Int(candidate)].entry!.key.hash
            let victimHash = self.slots[Int(victim)].entry!.key.hash
            if self.sketch.frequency(candidateHash) > self.sketch.frequency(victimHash) {
                self.evict(victim)
                self.pushFront(candidate, list: Self.probation)
            } else {
                self.pushFront(candidate, list: Self.probation)
                self.evict(candidate)
            }
        }
    }

    /// Evicts until the bytes fit: probation's LRU first, then protected's, then the window's.
    private mutating func evictOverBytes() {
        while self.bytes > self.maxBytes {
            var victim = self.tails[Self.probation]
            if victim < 0 { victim = self.tails[Self.protected] }
            if victim < 0 { victim = self.tails[Self.window] }
            guard victim >= 0 else { return }
            self.evict(victim)
        }
    }

    private mutating func evict(_ slot: Int32) {
        self.evictions &+= 1
        self.remove(slot)
    }

    /// Unlinks and frees `slot`, dropping its key and value.
    private mutating func remove(_ slot: Int32) {
        let position = Int(slot)
        self.unlink(slot)
        if let entry = self.slots[position].entry {
            self.index.removeValue(forKey: entry.key)
            cnv_rt_remove(self.table, entry.tag, Unmanaged.passUnretained(entry).toOpaque())
            self.retired(bytes: self.slots[position].bytes)
        }
        self.bytes -= self.slots[position].bytes
        self.slots[position] = Slot()
        self.free.append(slot)
    }

    /// Hands the retired entries not yet in a full batch to reclamation.
    mutating func flushRetired() {
        cnv_rt_flush(self.table)
        self.retiredBytes = 0
    }

    private mutating func retired(bytes: Int) {
        guard self.maxBytes != .max else { return }
        self.retiredBytes += bytes
        if self.retiredBytes > self.maxBytes / 8 {
            cnv_rt_flush(self.table)
            self.retiredBytes = 0
        }
    }

    // MARK: invalidation and reclamation

    /// Removes the entry for `key`. Returns whether there was one.
    @discardableResult
    mutating func invalidate(_ key: EntryKey<Key>) -> Bool {
        guard let slot = self.index[key] else { return false }
        self.remove(slot)
        return true
    }

    /// Removes every entry whose key matches `predicate`. Returns how many were removed.
    mutating func invalidate(where predicate: (EntryKey<Key>) -> Bool) -> Int {
        var doomed: [Int32] = []
        for (key, slot) in self.index where predicate(key) { doomed.append(slot) }
        for slot in doomed { self.remove(slot) }
        cnv_rt_flush(self.table)  // hand the removed entries to reclamation now
        return doomed.count
    }

    /// Removes the entries stale at `now`. Returns how many.
    mutating func reclaimExpired(now: Int64) -> Int {
        var doomed: [Int32] = []
        for slot in self.index.values where (self.slots[Int(slot)].entry?.expiresAt ?? .max) <= now { doomed.append(slot) }
        for slot in doomed { self.remove(slot) }
        if !doomed.isEmpty { cnv_rt_flush(self.table) }
        self.expirations &+= UInt64(doomed.count)
        return doomed.count
    }

    // MARK: lists

    /// A hit: move to the front of its list; a probation hit is promoted to protected, and
    /// protected's LRU entry is demoted to probation when protected overflows. (A CLOCK
    /// variant that only sets a reference bit on window and protected hits wrote fewer cache
    /// lines but cost ~0.3 points of hit ratio at Zipf 0.9; the lists stay exact LRU.)
    @inlinable
    mutating func touch(_ slot: Int32) {
        let list = Int(self.slots[Int(slot)].list)
        if self.tinyLFU && list == Self.probation {
            self.unlink(slot)
            self.pushFront(slot, list: Self.protected)
            while self.counts[Self.protected] > self.protectedCapacity, self.tails[Self.protected] >= 0 {
                let demoted = self.tails[Self.protected]
                self.unlink(demoted)
                self.pushFront(demoted, list: Self.probation)
            }
            return
        }
        guard self.heads[list] != slot else { return }
        self.unlink(slot)
        self.pushFront(slot, list: list)
    }

    @inlinable
    mutating func pushFront(_ slot: Int32, list: Int) {
        let position = Int(slot)
        let head = self.heads[list]
        self.slots[position].list = UInt8(list)
        self.slots[position].prev = -1
        self.slots[position].next = head
        if head >= 0 { self.slots[Int(head)].prev = slot } else { self.tails[list] = slot }
        self.heads[list] = slot
        self.counts[list] += 1
    }

    @inlinable
    mutating func unlink(_ slot: Int32) {
        let position = Int(slot)
        let list = Int(self.slots[position].list)
        let prev = self.slots[position].prev
        let next = self.slots[position].next
        if prev >= 0 { self.slots[Int(prev)].next = next } else { self.heads[list] = next }
        if next >= 0 { self.slots[Int(next)].prev = prev } else { self.tails[list] = prev }
        self.slots[position].prev = -1
        self.slots[position].next = -1
        self.counts[list] -= 1
    }

    /// Walks every list and checks its links and counts against the index (tests).
    func checkInvariants() -> String? {
        var seen = 0
        for list in 0..<3 {
            var slot = self.heads[list]
            var previous: Int32 = -1
            var length = 0
            while slot >= 0 {
                let entry = self.slots[Int(slot)]
                if entry.prev != previous { return "list \(list): broken prev link at \(slot)" }
                if Int(entry.list) != list { return "list \(list): slot \(slot) says list \(entry.list)" }
                guard let stored = entry.entry, self.index[stored.key] == slot else { return "list \(list): slot \(slot) not indexed" }
                if stored.slot != slot { return "list \(list): slot \(slot) holds the entry of slot \(stored.slot)" }
                if !cnv_rt_contains(self.table, stored.tag, Unmanaged.passUnretained(stored).toOpaque()) {
                    return "list \(list): slot \(slot) missing from the read table"
                }
                previous = slot
                slot = entry.next
                length += 1
                if length > self.slots.count { return "list \(list): cycle" }
            }
            if previous != self.tails[list] { return "list \(list): tail mismatch" }
            if length != self.counts[list] { return "list \(list): count \(self.counts[list]) but \(length) linked" }
            seen += length
        }
        if seen != self.index.count { return "\(seen) linked but \(self.index.count) indexed" }
        if cnv_rt_live(self.table) != UInt64(self.index.count) { return "read table holds \(cnv_rt_live(self.table)) of \(self.index.count)" }
        if self.index.count > self.capacity { return "\(self.index.count) entries over capacity \(self.capacity)" }
        if self.bytes > self.maxBytes { return "\(self.bytes) bytes over \(self.maxBytes)" }
        if self.tinyLFU && self.counts[Self.window] > self.windowCapacity { return "window over capacity" }
        return nil
    }
}
