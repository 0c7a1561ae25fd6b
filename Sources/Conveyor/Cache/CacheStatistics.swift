/// A ``ResultCache``'s counters, summed over its shards when read.
///
/// ```swift
/// let stats = cache.statistics
/// print("hit ratio \(stats.hitRatio), \(stats.coalesced) callers shared a computation")
/// ```
public struct CacheStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Lookups answered from a fresh entry.
    public var hits: UInt64
    /// Lookups that found no fresh entry and started a computation.
    public var misses: UInt64
    /// Lookups that found the key already being computed and waited for that computation.
    public var coalesced: UInt64
    /// Entries removed to stay within the entry or byte capacity.
    public var evictions: UInt64
    /// Stale entries removed by ``ResultCache/reclaimExpired()`` (or its background sweep).
    public var expirations: UInt64
    /// Results not stored because one alone is larger than a shard's byte capacity.
    public var rejections: UInt64
    /// Entries stored now (stale ones included until they are reclaimed).
    public var entries: Int
    /// Bytes stored now, as the size function measured them.
    public var bytes: Int

    /// hits / (hits + misses + coalesced), or 0 before any lookup.
    public var hitRatio: Double {
        let lookups = self.hits + self.misses + self.coalesced
        return lookups == 0 ? 0 : Double(self.hits) / Double(lookups)
    }

    public var description: String {
        "hits \(self.hits), misses \(self.misses), coalesced \(self.coalesced), evictions \(self.evictions), "
            + "expirations \(self.expirations), rejections \(self.rejections), entries \(self.entries), bytes \(self.bytes)"
    }
}
