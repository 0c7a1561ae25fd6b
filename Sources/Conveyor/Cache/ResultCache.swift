import CConveyor

/// A cache of task results with single-flight, W-TinyLFU (or LRU) eviction, a capacity in
/// entries and in bytes, and a time-to-live.
///
/// Keys are a task kind and a key of your own, so one cache can serve several kinds and be
/// invalidated by kind. ``value(for:kind:compute:)`` returns a fresh cached result, or runs
/// `compute` once for every caller that asks for the same key while it runs (single-flight)
/// and caches its result. Errors are not cached unless `cachesErrors` is true.
///
/// ```swift
/// let cache = try ResultCache<String, Data>(maxEntries: 10_000, maxBytes: 64 << 20, ttl: .seconds(60),
///                                           size: { $0.count })
/// let page = try await cache.value(for: url, kind: "fetch") { try await download(url) }
/// cache.invalidate(kind: "fetch")
/// ```
///
/// With the engine, ``Conveyor/cached(_:in:_:)`` opts one task kind in: its results are
/// looked up before a task is queued, and computed on the kind's group on a miss.
///
/// Hits take no lock: the key's hash picks one of `shards`, whose lock-free read table
/// (userspace RCU, liburcu's `urcu-bp` flavour) is probed; the hit is counted on the calling
/// thread's own stripe and, for an entry's first 15 hits and then one hit in 16 at random
/// (weighted 16), recorded there and applied to the frequency sketch and recency lists later,
/// under the shard's lock, by whichever operation drains the stripes next. Misses, inserts
/// and invalidations take the shard's lock.
public final class ResultCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// How entries are chosen for eviction.
    public enum Policy: Sendable, Hashable {
        /// Window TinyLFU (Caffeine's policy): a small LRU window admits new entries; a
        /// count-min frequency sketch with aging decides whether the window's oldest entry
        /// may replace the main space's victim; the main space is a segmented LRU
        /// (probation and protected). Resists scans and keeps frequently used entries.
        case windowTinyLFU
        /// Least recently used.
        case lru
    }

    /// The policy entries are evicted by.
    public let policy: Policy
    /// The most entries the cache holds.
    public let maxEntries: Int
    /// The most bytes the cache holds (`Int.max` when unbounded), as `size` measures them.
    public let maxBytes: Int
    /// How long an entry stays fresh, or `nil` for ever.
    public let ttl: Duration?
    /// Whether a computation's error is cached like a value (cancellation never is).
    public let cachesErrors: Bool

    @usableFromInline let shards: [CacheShard<Key, Value>]
    /// The same shards, unretained (`shards` keeps them alive until deinit), for the hit
    /// path: reading a class reference out of the array costs a retain and a release.
    /// (nonisolated(unsafe): written once in init, then only read; the shards are Sendable.)
    @usableFromInline nonisolated(unsafe) let shardRefs: UnsafeMutablePointer<Unmanaged<CacheShard<Key, Value>>>
    @usableFromInline let shardMask: Int
    private let size: @Sendable (Value) -> Int
    @usableFromInline let clock: any CacheClock
    @usableFromInline let ttlNanoseconds: Int64
    @usableFromInline let profiler: PerformanceProfiler?
    @usableFromInline let hitContext: String
    private let missContext: String
    private let sweeper: PThreadMutex<Task<Void, Never>?>

    /// Creates a cache.
    ///
    /// - Parameters:
    ///   - maxEntries: the most entries held; at least 1.
    ///   - maxBytes: the most bytes held, measured by `size`; `nil` for no byte bound.
    ///   - ttl: how long an entry stays fresh, checked on every read; `nil` for ever.
    ///   - policy: ``Policy/windowTinyLFU`` (default) or ``Policy/lru``.
    ///   - cachesErrors: cache a computation's error as its result (default false).
    ///   - shards: independent tables (rounded up to a power of two); `nil` picks one per
    ///     256 entries, at most 16. Each shard holds `maxEntries / shards` entries and
    ///     `maxBytes / shards` bytes, so a result larger than that is not stored.
    ///   - reclaimInterval: when set, a background task removes stale entries this often
    ///     (real time; ``reclaimExpired()`` does the same on demand).
    ///   - clock: the time `ttl` is measured on (inject one in tests).
    ///   - profiler: records each hit's lookup and each miss's computation under
    ///     `"\(name).hit"` and `"\(name).miss"`.
    ///   - name: the profiler context prefix.
    ///   - size: the size of a value in bytes; must not be negative. Defaults to the
    ///     value's inline size (`MemoryLayout<Value>.size`).
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a capacity of 0 or
    ///   less, a TTL or interval that is not positive, or a shard count below 1.
    public convenience init(
        maxEntries: Int,
        maxBytes: Int? = nil,
        ttl: Duration? = nil,
        policy: Policy = .windowTinyLFU,
        cachesErrors: Bool = false,
        shards: Int? = nil,
        reclaimInterval: Duration? = nil,
        clock: any CacheClock = MonotonicCacheClock(),
        profiler: PerformanceProfiler? = nil,
        name: String = "cache",
        size: @escaping @Sendable (Value) -> Int = { _ in MemoryLayout<Value>.size }
    ) throws {
        try self.init(
            maxEntries: maxEntries, maxBytes: maxBytes, ttl: ttl, policy: policy, cachesErrors: cachesErrors,
            shards: shards, reclaimInterval: reclaimInterval, clock: clock, profiler: profiler, name: name,
            hitSampleShift: UInt32(CNV_RT_DEFAULT_SAMPLE_SHIFT), size: size)
    }

    /// Creates a cache whose lock-free hits past an entry's first 15 (`CNV_RT_EXACT_HITS`)
    /// reach the eviction policy one in 2^`hitSampleShift` (0…16; 0 records every hit; the
    /// public initializer uses 4). For tests and measurements (CacheBench compares the hit
    /// ratios of every hit recorded against the default); the other parameters are those of
    /// ``init(maxEntries:maxBytes:ttl:policy:cachesErrors:shards:reclaimInterval:clock:profiler:name:size:)``.
    ///
    /// ```swift
    /// @_spi(Testing) import Conveyor
    /// let exact = try ResultCache<Int, Int>(
    ///     maxEntries: 10_000, maxBytes: nil, ttl: nil, policy: .windowTinyLFU, cachesErrors: false, shards: nil,
    ///     reclaimInterval: nil, clock: MonotonicCacheClock(), profiler: nil, name: "cache",
    ///     hitSampleShift: 0, size: { _ in 8 })
    /// ```
    ///
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` as the public initializer,
    ///   and for a `hitSampleShift` above 16.
    @_spi(Testing)
    public init(
        maxEntries: Int, maxBytes: Int?, ttl: Duration?, policy: Policy, cachesErrors: Bool, shards: Int?,
        reclaimInterval: Duration?, clock: any CacheClock, profiler: PerformanceProfiler?, name: String,
        hitSampleShift: UInt32, size: @escaping @Sendable (Value) -> Int
    ) throws {
        guard maxEntries > 0 else {
            throw ConveyorError.invalidConfiguration(
                reason: "ResultCache maxEntries is \(maxEntries); it must be at least 1")
        }
        if let maxBytes, maxBytes <= 0 {
            throw ConveyorError.invalidConfiguration(
                reason: "ResultCache maxBytes is \(maxBytes); it must be at least 1, or nil for no byte bound")
        }
        if let ttl, ttl <= .zero {
            throw ConveyorError.invalidConfiguration(
                reason: "ResultCache ttl is \(ttl); it must be positive, or nil for entries that never expire")
        }
        if let reclaimInterval, reclaimInterval <= .zero {
            throw ConveyorError.invalidConfiguration(
                reason: "ResultCache reclaimInterval is \(reclaimInterval); it must be positive, or nil for no background sweep")
        }
        if let shards, shards < 1 {
            throw ConveyorError.invalidConfiguration(reason: "ResultCache shards is \(shards); it must be at least 1")
        }
        guard hitSampleShift <= 16 else {
            throw ConveyorError.invalidConfiguration(
                reason: "ResultCache hitSampleShift is \(hitSampleShift); it must be 0 (every hit recorded) through 16")
        }
        let wanted = shards ?? min(16, max(1, maxEntries / 256))
        var count = 1
        while count < wanted { count <<= 1 }
        count = min(count, maxEntries)  // every shard holds at least one entry
        var rounded = 1
        while rounded * 2 <= count { rounded <<= 1 }
        count = rounded
        self.policy = policy
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes ?? .max
        self.ttl = ttl
        self.cachesErrors = cachesErrors
        self.size = size
        self.clock = clock
        self.ttlNanoseconds = ttl?.cacheNanoseconds ?? .max
        self.profiler = profiler
        self.hitContext = "\(name).hit"
        self.missContext = "\(name).miss"
        self.shardMask = count - 1
        let bytesPerShard = maxBytes.map { max(1, $0 / count) } ?? .max
        self.shards = (0..<count).map { shard in
            let entries = maxEntries / count + (shard < maxEntries % count ? 1 : 0)
            return CacheShard<Key, Value>(
                capacity: entries, maxBytes: bytesPerShard, tinyLFU: policy == .windowTinyLFU, sampleShift: hitSampleShift)
        }
        self.shardRefs = .allocate(capacity: count)
        for (index, shard) in self.shards.enumerated() { (self.shardRefs + index).initialize(to: .passUnretained(shard)) }
        self.sweeper = PThreadMutex(nil)
        if let reclaimInterval {
            let sweep = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: reclaimInterval)
                    guard let self else { return }
                    _ = self.reclaimExpired()
                }
            }
            self.sweeper.withLock { $0 = sweep }
        }
    }

    deinit {
        self.shardRefs.deallocate()  // Unmanaged: trivial, nothing to deinitialize
        self.sweeper.withLock { $0?.cancel() }
    }

    /// How many shards the table is split into.
    public var shardCount: Int { self.shards.count }

    @inlinable
    func shard(for key: EntryKey<Key>) -> CacheShard<Key, Value> {
        self.shards[self.shardIndex(for: key)]
    }

    @inlinable
    func shardIndex(for key: EntryKey<Key>) -> Int {
        Int(truncatingIfNeeded: UInt64(bitPattern: Int64(key.hash)) >> 40) & self.shardMask
    }

    /// Nanoseconds on the cache clock, or 0 when nothing expires (no clock read).
    @inlinable
    func now() -> Int64 {
        self.ttl == nil ? 0 : self.clock.now().cacheNanoseconds
    }

    // MARK: reading

    /// The cached value for `key` of `kind`, or the result of `compute`.
    ///
    /// A fresh entry is returned at once (a cached error is thrown). Otherwise, if another
    /// caller is already computing this key, this one waits for that computation and gets
    /// its value or error; if not, `compute` runs once, in a task of its own, and its value
    /// is stored (and its error too when `cachesErrors`). Cancelling a waiting caller makes
    /// it throw `CancellationError` without cancelling the computation while any other
    /// caller still waits for it; when the last waiter is cancelled, so is the computation.
    ///
    /// ```swift
    /// let price = try await cache.value(for: sku, kind: "price") { try await quote(sku) }
    /// ```
    ///
    /// - Throws: the computation's error; ``ConveyorError/invalidConfiguration(reason:)``
    ///   when `size` measures the value as negative (nothing is stored then).
    @inlinable
    public func value(
        for key: Key, kind: String = "", compute: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let entryKey = EntryKey(kind: kind, key: key)
        if let stored = self.lookup(entryKey) {
            switch stored {
            case .value(let value): return value
            case .failure(let error): throw error
            }
        }
        return try await self.wait(for: entryKey, in: self.shard(for: entryKey), compute: compute)
    }

    /// The fresh cached value for `key` of `kind`, or `nil`; never computes. A hit counts
    /// as a hit; `nil` counts as nothing (it starts no computation). A cached error is
    /// thrown.
    ///
    /// ```swift
    /// if let page = try cache.cachedValue(for: url, kind: "fetch") { return page }
    /// ```
    @inlinable
    public func cachedValue(for key: Key, kind: String = "") throws -> Value? {
        let entryKey = EntryKey(kind: kind, key: key)
        switch self.lookup(entryKey) {
        case .value(let value): return value
        case .failure(let error): throw error
        case nil: return nil
        }
    }

    @inlinable
    func lookup(_ key: EntryKey<Key>) -> CacheStore<Key, Value>.Stored? {
        let now = self.now()
        if let profiler = self.profiler, profiler.isEnabled {
            let shard = self.shard(for: key)
            let start = MonotonicClock.ticks()
            let stored = shard.readLookup(key, now: now) ?? shard.withLock { $0.lookup(key, now: now) }
            if stored != nil {
                profiler.record(nanoseconds: MonotonicClock.nanoseconds(from: start, to: MonotonicClock.ticks()), context: self.hitContext)
            }
            return stored
        }
        // The lock-free hit; on an absent or stale entry the locked lookup decides (it
        // counts the access in the sketch, and finds an entry published meanwhile).
        // The shard is borrowed, not retained: `shards` holds it for the cache's lifetime.
        let read = self.shardRefs[self.shardIndex(for: key)]._withUnsafeGuaranteedRef { $0.readLookup(key, now: now) }
        if let stored = read { return stored }
        return self.shard(for: key).withLock { $0.lookup(key, now: now) }
    }

    /// The slow path: join the key's flight or lead a new one, registering the continuation
    /// under the same lock so that completion and cancellation cannot slip in between.
    @usableFromInline
    func wait(
        for key: EntryKey<Key>, in shard: CacheShard<Key, Value>, compute: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let ticket = WaiterTicket<Value>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let now = self.now()
                // nil: suspended (joined or leading a flight); else the answer right away.
                let immediate: Result<Value, any Error>? = shard.withLock { store in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if store.contains(key, now: now), let stored = store.lookup(key, now: now) {
                        // Filled between the first look and now.
                        switch stored {
                        case .value(let value): return .success(value)
                        case .failure(let error): return .failure(error)
                        }
                    }
                    if let flight = store.flights[key] {
                        store.coalesced &+= 1
                        ticket.flight = flight
                        ticket.id = flight.add(continuation)
                        return nil
                    }
                    store.misses &+= 1
                    let flight = Flight<Value>()
                    store.flights[key] = flight
                    ticket.flight = flight
                    ticket.id = flight.add(continuation)
                    flight.task = Task {
                        let start = MonotonicClock.ticks()
                        let result: Result<Value, any Error>
                        do {
                            try Task.checkCancellation()
                            result = .success(try await compute())
                        } catch {
                            result = .failure(error)
                        }
                        if let profiler = self.profiler {
                            profiler.record(
                                nanoseconds: MonotonicClock.nanoseconds(from: start, to: MonotonicClock.ticks()),
                                context: self.missContext)
                        }
                        self.finish(flight, key: key, in: shard, result: result)
                    }
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let abandoned: CheckedContinuation<Value, any Error>? = shard.withLock { store in
                guard let flight = ticket.flight, let continuation = flight.waiters.removeValue(forKey: ticket.id) else {
                    return nil
                }
                if flight.waiters.isEmpty, flight.outcome == nil {
                    // The last waiter left: nobody wants the result any more.
                    flight.task?.cancel()
                    if store.flights[key] === flight { store.flights.removeValue(forKey: key) }
                }
                return continuation
            }
            abandoned?.resume(throwing: CancellationError())
        }
    }

    /// Stores a finished computation's result and resumes every caller waiting for it.
    private func finish(
        _ flight: Flight<Value>, key: EntryKey<Key>, in shard: CacheShard<Key, Value>, result: Result<Value, any Error>
    ) {
        var result = result
        var bytes = 0
        if case .success(let value) = result {
            bytes = self.size(value)
            if bytes < 0 {
                result = .failure(
                    ConveyorError.invalidConfiguration(
                        reason: "the ResultCache size function returned \(bytes) for a value of kind \"\(key.kind)\"; "
                            + "sizes must be 0 or more (nothing was cached)"))
            }
        }
        let expiresAt = self.expiry()
        let waiters: [Int: CheckedContinuation<Value, any Error>] = shard.withLock { store in
            if store.flights[key] === flight { store.flights.removeValue(forKey: key) }
            flight.outcome = result
            switch result {
            case .success(let value):
                store.insert(key, .value(value), bytes: bytes, expiresAt: expiresAt)
            case .failure(let error):
                if self.cachesErrors, !(error is CancellationError), !Self.isSizeError(error) {
                    store.insert(key, .failure(error), bytes: 0, expiresAt: expiresAt)
                }
            }
            let waiting = flight.waiters
            flight.waiters = [:]
            flight.task = nil
            return waiting
        }
        for continuation in waiters.values { continuation.resume(with: result) }
    }

    private static func isSizeError(_ error: any Error) -> Bool {
        if case .invalidConfiguration = error as? ConveyorError { return true }
        return false
    }

    @inline(__always)
    private func expiry() -> Int64 {
        guard self.ttl != nil else { return .max }
        let (sum, overflow) = self.now().addingReportingOverflow(self.ttlNanoseconds)
        return overflow ? .max : sum
    }

    // MARK: writing

    /// Stores `value` for `key` of `kind` directly, as if a computation had returned it.
    ///
    /// ```swift
    /// try cache.insert(rates, for: "EUR", kind: "fx")
    /// ```
    ///
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` when `size` measures the
    ///   value as negative (nothing is stored).
    public func insert(_ value: Value, for key: Key, kind: String = "") throws {
        let bytes = self.size(value)
        guard bytes >= 0 else {
            throw ConveyorError.invalidConfiguration(
                reason: "the ResultCache size function returned \(bytes) for a value of kind \"\(kind)\"; sizes must be 0 or more")
        }
        let entryKey = EntryKey(kind: kind, key: key)
        let expiresAt = self.expiry()
        self.shard(for: entryKey).withLock { $0.insert(entryKey, .value(value), bytes: bytes, expiresAt: expiresAt) }
    }

    // MARK: invalidation

    /// Removes the entry for `key` of `kind`. A computation in flight for it is not
    /// cancelled; its result is stored when it finishes. Returns whether an entry was removed.
    ///
    /// ```swift
    /// cache.invalidate(key: userID, kind: "profile")
    /// ```
    @discardableResult
    public func invalidate(key: Key, kind: String = "") -> Bool {
        let entryKey = EntryKey(kind: kind, key: key)
        return self.shard(for: entryKey).withLock { $0.invalidate(entryKey) }
    }

    /// Removes every entry of `kind`. Returns how many were removed.
    ///
    /// ```swift
    /// cache.invalidate(kind: "price")
    /// ```
    @discardableResult
    public func invalidate(kind: String) -> Int {
        self.shards.reduce(0) { total, shard in total + shard.withLock { $0.invalidate { $0.kind == kind } } }
    }

    /// Removes every entry. Returns how many were removed.
    ///
    /// ```swift
    /// cache.invalidateAll()
    /// ```
    @discardableResult
    public func invalidateAll() -> Int {
        self.shards.reduce(0) { total, shard in total + shard.withLock { $0.invalidate { _ in true } } }
    }

    /// Removes the entries whose TTL has passed, one shard at a time (reads skip stale
    /// entries without removing them, so this work stays off the read path), and hands the
    /// entries removed since the last batch to reclamation (they are released after readers
    /// that may still see them are done). Returns how many were removed.
    ///
    /// ```swift
    /// let removed = cache.reclaimExpired()
    /// ```
    @discardableResult
    public func reclaimExpired() -> Int {
        self.shards.reduce(0) { total, shard in
            let now = self.now()
            return total + shard.withLock { store in
                defer { store.flushRetired() }
                return self.ttl == nil ? 0 : store.reclaimExpired(now: now)
            }
        }
    }

    // MARK: statistics

    /// The counters, summed over the shards (each shard read under its lock).
    public var statistics: CacheStatistics {
        var total = CacheStatistics(
            hits: 0, misses: 0, coalesced: 0, evictions: 0, expirations: 0, rejections: 0, entries: 0, bytes: 0)
        for shard in self.shards {
            shard.withLock { store in
                total.hits += store.totalHits
                total.misses += store.misses
                total.coalesced += store.coalesced
                total.evictions += store.evictions
                total.expirations += store.expirations
                total.rejections += store.rejections
                total.entries += store.count
                total.bytes += store.bytes
            }
        }
        return total
    }

    /// How many keys are being computed now (tests and diagnostics).
    var flightsInProgress: Int {
        self.shards.reduce(0) { $0 + $1.withLock { $0.flights.count } }
    }

    /// Every shard's list and capacity invariants, or the first broken one (tests).
    func checkInvariants() -> String? {
        for shard in self.shards {
            if let problem = shard.withLock({ $0.checkInvariants() }) { return problem }
        }
        return nil
    }
}
