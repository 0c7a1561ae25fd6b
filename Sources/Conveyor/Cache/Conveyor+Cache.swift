/// A task kind whose results are cached: calling it with a payload returns the cached result
/// for that payload, or runs the kind's body on its group once (single-flight) and caches
/// the result. Made by ``Conveyor/cached(_:in:_:)``.
///
/// ```swift
/// let cache = try ResultCache<String, Double>(maxEntries: 50_000, ttl: .seconds(30))
/// let quote = conveyor.cached(QueueTask(kind: "quote", group: "cpu"), in: cache) { (sku: String) in
///     priceModel.evaluate(sku)
/// }
/// let price = try await quote("A-113")   // runs on "cpu" once; later calls are hits
/// ```
public struct CachedTaskKind<Payload: Hashable & Sendable, Value: Sendable>: Sendable {
    /// The task every miss runs (its kind is the cache's kind for these entries).
    public let task: QueueTask
    /// The cache the results live in.
    public let cache: ResultCache<Payload, Value>
    private let conveyor: Conveyor
    private let body: @Sendable (Payload) throws -> Value

    init(conveyor: Conveyor, task: QueueTask, cache: ResultCache<Payload, Value>, body: @escaping @Sendable (Payload) throws -> Value) {
        self.conveyor = conveyor
        self.task = task
        self.cache = cache
        self.body = body
    }

    /// The cached result for `payload`, or the body's result computed on a worker.
    public func callAsFunction(_ payload: Payload) async throws -> Value {
        let body = self.body
        let conveyor = self.conveyor
        let task = self.task
        return try await self.cache.value(for: payload, kind: task.kind) {
            try await conveyor.run(task) { try body(payload) }.value
        }
    }

    /// Removes the cached result for `payload`.
    @discardableResult
    public func invalidate(_ payload: Payload) -> Bool {
        self.cache.invalidate(key: payload, kind: self.task.kind)
    }

    /// Removes every cached result of this kind.
    @discardableResult
    public func invalidateAll() -> Int {
        self.cache.invalidate(kind: self.task.kind)
    }
}

extension Conveyor {
    /// Opts the task kind of `task` into `cache`: the returned ``CachedTaskKind`` looks a
    /// payload up before queueing anything, and on a miss runs `body(payload)` as `task`
    /// (its group, priority and deadline) through ``run(_:_:)``, once for all callers
    /// asking for the same payload meanwhile.
    ///
    /// ```swift
    /// let thumbnails = try ResultCache<URL, Image>(maxEntries: 2_000, maxBytes: 256 << 20, size: { $0.byteCount })
    /// let thumbnail = conveyor.cached(QueueTask(kind: "thumbnail", group: "cpu"), in: thumbnails) { url in
    ///     try Image(contentsOf: url).scaled(to: 128)
    /// }
    /// let image = try await thumbnail(url)
    /// ```
    public func cached<Payload: Hashable & Sendable, Value: Sendable>(
        _ task: QueueTask, in cache: ResultCache<Payload, Value>, _ body: @escaping @Sendable (Payload) throws -> Value
    ) -> CachedTaskKind<Payload, Value> {
        CachedTaskKind(conveyor: self, task: task, cache: cache, body: body)
    }

    /// Runs `body` as `task` unless `cache` holds a fresh result for `key` of the task's
    /// kind; identical calls in flight share one run (see ``ResultCache/value(for:kind:compute:)``).
    ///
    /// ```swift
    /// let report = try await conveyor.run(QueueTask(kind: "report"), cachedIn: reports, key: day) { build(day) }
    /// ```
    public func run<Key: Hashable & Sendable, Value: Sendable>(
        _ task: QueueTask, cachedIn cache: ResultCache<Key, Value>, key: Key, _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        try await cache.value(for: key, kind: task.kind) { try await self.run(task, body).value }
    }
}
