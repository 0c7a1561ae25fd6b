import CConveyor
import Foundation
import Synchronization

/// Memory pools, memory monitoring with watermarks, and returning free memory to the OS.
///
/// ```swift
/// let optimizer = MemoryOptimizer()
///
/// // Pools: fixed-size records over a slab pool, and reusable objects with a reset step.
/// let records = try optimizer.createPool(objectSize: 64)
/// let buffers = try optimizer.createPool(capacity: 32, make: { Buffer() }, reset: { $0.clear() })
///
/// // Monitoring: figures on demand, and a watermark checked every second.
/// print(optimizer.monitorMemory().residentSetSize)
/// let token = try optimizer.addWatermark(bytes: 1 << 30, metric: .residentSetSize) { event in
///     log.warning("memory \(event)")
/// }
/// try optimizer.startMonitoring(interval: .seconds(1))
///
/// // After a burst: give the memory back.
/// let report = optimizer.releaseMemory()
/// print(report.bytesReleased, report.slabsReleased)
///
/// optimizer.stopMonitoring()
/// optimizer.removeWatermark(token)
/// ```
///
/// **Pools are tracked weakly.** The optimizer remembers the pools it created so that
/// ``monitorMemory()`` counts them and ``releaseMemory(dropPooledObjects:)`` purges them, but it
/// never keeps one alive: a pool is freed when its last user drops it, as if no optimizer existed.
///
/// Swift has no garbage collector: ``releaseMemory(dropPooledObjects:)`` returns *free* memory
/// to the operating system; it cannot free memory that is still referenced.
public final class MemoryOptimizer: Sendable {
    let pools = PThreadMutex<[TrackedPoolReference]>([])
    let watermarks = PThreadMutex<[WatermarkEntry]>([])
    let nextWatermarkID = Atomic<Int>(1)
    /// Serializes checks so events of one watermark are delivered in order; recursive so a
    /// callback may itself check.
    let checking = NSRecursiveLock()
    let monitor = PThreadMutex<MonitoringThread?>(nil)

    public init() {}

    deinit {
        self.monitor.withLock { $0 }?.stop()
    }

    // MARK: Pools

    /// Creates a pool of fixed-size records over a ``SlabPool``, tracked by this optimizer.
    ///
    /// ```swift
    /// let records = try optimizer.createPool(objectSize: 128)
    /// let record = try records.allocate()
    /// records.deallocate(record)
    /// ```
    /// - Parameters:
    ///   - objectSize: bytes per record, 1 to 1 MiB (rounded up to a multiple of 16).
    ///   - backing: where slabs come from (a dedicated jemalloc arena by default with the
    ///     `Jemalloc` trait, else `mmap`).
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a size of 0, a negative
    ///   size or one above 1 MiB; ``ConveyorError/limitReached(reason:)`` when 2^20 slab pools
    ///   are alive; ``ConveyorError/unsupported(reason:)`` for `.jemallocArena` without the trait.
    public func createPool(objectSize: Int, backing: SlabPool.Backing = .default) throws -> RecordPool {
        let pool = try RecordPool(objectSize: objectSize, backing: backing)
        self.track(pool)
        return pool
    }

    /// Creates a bounded pool of reusable objects, tracked by this optimizer.
    ///
    /// ```swift
    /// let buffers = try optimizer.createPool(capacity: 16, make: { Buffer(size: 4096) }, reset: { $0.clear() })
    /// let buffer = buffers.acquire()
    /// buffers.release(buffer)
    /// ```
    /// - Parameters:
    ///   - capacity: the most idle objects kept, 1 to ``ObjectPool/maximumCapacity``.
    ///   - make: creates an object when none is idle (a miss).
    ///   - reset: cleans an object when it is released.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for a capacity of 0, a
    ///   negative one or one above the maximum.
    public func createPool<Object: AnyObject>(
        capacity: Int,
        make: @escaping @Sendable () -> Object,
        reset: @escaping @Sendable (Object) -> Void = { _ in }
    ) throws -> ObjectPool<Object> {
        let pool = try ObjectPool(capacity: capacity, make: make, reset: reset)
        self.track(pool)
        return pool
    }

    func track(_ pool: any TrackedPool) {
        self.pools.withLock { pools in
            pools.removeAll { $0.pool == nil }
            pools.append(TrackedPoolReference(pool: pool))
        }
    }

    /// The tracked pools still alive (strong references for the caller's use).
    func livePools() -> [any TrackedPool] {
        self.pools.withLock { pools in
            pools.removeAll { $0.pool == nil }
            return pools.compactMap(\.pool)
        }
    }

    // MARK: Monitoring

    /// The process's memory now, with the bytes and idle objects of the tracked pools.
    ///
    /// ```swift
    /// let metrics = optimizer.monitorMemory()
    /// print(metrics.heapAllocated, metrics.external, metrics.peakResidentSetSize)
    /// ```
    public func monitorMemory() -> MemoryMetrics {
        let pools = self.livePools()
        var metrics = MemoryMetrics.process()
        metrics.external = pools.reduce(0) { $0 + $1.reservedBytes }
        metrics.pooledObjects = pools.reduce(0) { $0 + $1.idleObjects }
        metrics.trackedPools = pools.count
        return metrics
    }

    /// Adds a watermark on `metric`; `onChange` is called with `.crossed` once when the value
    /// rises above `bytes` and with `.cleared` once when it falls below `bytes × (1 − hysteresis)`.
    ///
    /// Watermarks are checked by ``checkWatermarks()`` and by the monitoring thread
    /// (``startMonitoring(interval:)``). `onChange` runs on the checking thread, after the
    /// check, one event at a time; it may add or remove watermarks.
    ///
    /// ```swift
    /// let token = try optimizer.addWatermark(bytes: 256 << 20, metric: .heapAllocated) { event in
    ///     print(event)  // crossed(value: 268500000), later cleared(value: 240000000)
    /// }
    /// ```
    /// - Parameters:
    ///   - bytes: the threshold, at least 1.
    ///   - metric: ``MemoryWatermark/Metric/residentSetSize`` or ``MemoryWatermark/Metric/heapAllocated``.
    ///   - hysteresis: how far below `bytes` (as a fraction of it, 0 ..< 1) the value must
    ///     fall to clear; default 5 %.
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for `bytes` ≤ 0 or a
    ///   hysteresis outside 0 ..< 1.
    @discardableResult
    public func addWatermark(
        bytes: Int,
        metric: MemoryWatermark.Metric = .residentSetSize,
        hysteresis: Double = 0.05,
        onChange: @escaping @Sendable (MemoryWatermark.Event) -> Void
    ) throws -> WatermarkToken {
        guard bytes > 0 else {
            throw ConveyorError.invalidConfiguration(
                reason: "a memory watermark of \(bytes) bytes is never crossed meaningfully; give a threshold of at least 1 byte")
        }
        guard hysteresis >= 0, hysteresis < 1 else {
            throw ConveyorError.invalidConfiguration(
                reason: "watermark hysteresis \(hysteresis) must be from 0 up to (not including) 1; 0.05 clears 5 % below the mark")
        }
        let id = self.nextWatermarkID.add(1, ordering: .relaxed).oldValue
        let entry = WatermarkEntry(
            id: id, watermark: MemoryWatermark(bytes: bytes, metric: metric, hysteresis: hysteresis), onChange: onChange)
        self.watermarks.withLock { $0.append(entry) }
        return WatermarkToken(id: id)
    }

    /// Removes a watermark; returns whether it existed. Its callback is not called after this
    /// returns, except by a check already delivering its event on another thread.
    @discardableResult
    public func removeWatermark(_ token: WatermarkToken) -> Bool {
        self.watermarks.withLock { entries in
            let before = entries.count
            entries.removeAll { $0.id == token.id }
            return entries.count != before
        }
    }

    /// The watermarks in place.
    public var activeWatermarks: [MemoryWatermark] {
        self.watermarks.withLock { $0.map(\.watermark) }
    }

    /// Samples memory and checks every watermark, calling back on this thread. Returns the
    /// events delivered.
    @discardableResult
    public func checkWatermarks() -> [MemoryWatermark.Event] {
        self.checkWatermarks(against: MemoryMetrics.process())
    }

    /// Checks every watermark against `metrics` (figures you sampled or built yourself),
    /// calling back on this thread. Returns the events delivered.
    @discardableResult
    public func checkWatermarks(against metrics: MemoryMetrics) -> [MemoryWatermark.Event] {
        self.checking.lock()
        defer { self.checking.unlock() }
        let due = self.watermarks.withLock { entries in
            var due: [(@Sendable (MemoryWatermark.Event) -> Void, MemoryWatermark.Event)] = []
            for index in entries.indices {
                if let event = entries[index].evaluate(metrics.value(of: entries[index].watermark.metric)) {
                    due.append((entries[index].onChange, event))
                }
            }
            return due
        }
        for (onChange, event) in due { onChange(event) }
        return due.map(\.1)
    }

    /// Starts a background thread that checks the watermarks every `interval` (replacing a
    /// monitor already running).
    ///
    /// ```swift
    /// try optimizer.startMonitoring(interval: .milliseconds(500))
    /// ```
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for an interval below 1 ms.
    public func startMonitoring(interval: Duration = .seconds(1)) throws {
        guard interval >= .milliseconds(1) else {
            throw ConveyorError.invalidConfiguration(
                reason: "monitoring interval \(interval) is too short; use at least 1 ms (a second is typical)")
        }
        let thread = MonitoringThread(interval: interval) { [weak self] in
            self?.checkWatermarks()
        }
        self.monitor.withLock { current in
            let previous = current
            current = thread
            return previous
        }?.stop()
    }

    /// Stops the monitoring thread and waits for it to exit. A no-op when none runs.
    public func stopMonitoring() {
        self.monitor.withLock { current in
            let previous = current
            current = nil
            return previous
        }?.stop()
    }

    /// Whether a monitoring thread runs.
    public var isMonitoring: Bool {
        self.monitor.withLock { $0 != nil }
    }

    // MARK: Returning memory

    /// Returns free memory to the operating system and reports how much was released.
    ///
    /// Steps: (1) each tracked record pool flushes **the calling thread's** magazines to its
    /// depot and releases every slab whose records are all free in the depot; (2) with
    /// `dropPooledObjects`, each tracked object pool drops its idle objects; (3) the process
    /// allocator returns free pages: with jemalloc, the calling thread's cache is flushed and
    /// every arena purged; with glibc, `malloc_trim(0)`.
    ///
    /// Limits, honestly: another thread's cached records and jemalloc thread cache cannot be
    /// flushed from here (a thread's cache belongs to it); their slabs stay until that thread
    /// calls ``RecordPool/flushThreadCache()`` or ``flushThreadCaches()``, or exits (the
    /// engine's workers flush theirs after a second idle). A slab with a single live record
    /// stays. Memory still referenced is never freed: Swift has no collector to run.
    ///
    /// ```swift
    /// let report = optimizer.releaseMemory()
    /// print("RSS −\(report.bytesReleased >> 20) MiB")
    /// ```
    @discardableResult
    public func releaseMemory(dropPooledObjects: Bool = false) -> MemoryReleaseReport {
        let pools = self.livePools()
        let before = self.monitorMemory()
        var slabs = 0
        var dropped = 0
        for pool in pools {
            let released = pool.releaseFreeMemory(dropIdleObjects: dropPooledObjects)
            slabs += released.slabsReleased
            dropped += released.objectsDropped
        }
        // The engines' record and queue-node pools (after a spill burst, most of what it took).
        slabs += EngineRegistry.shared.releaseFreeMemory()
        let purged: Bool
        if MemoryStatistics.releaseFreeMemoryToOS() {
            purged = true
        } else {
            purged = cnv_memory_glibc_trim()
        }
        let after = self.monitorMemory()
        return MemoryReleaseReport(
            before: before, after: after, slabsReleased: slabs, pooledObjectsDropped: dropped, allocatorPurged: purged)
    }

    /// Hands the **calling thread's** cached free slab objects back to their pools' depots,
    /// for every pool it has a cache for (the engines' task records and queue nodes, and every
    /// ``RecordPool``), so a later ``releaseMemory(dropPooledObjects:)`` from any thread can
    /// release their slabs. Call it from a thread of your own that submits or frees records
    /// and then goes idle for long (a producer at the end of a burst); the engine's workers do
    /// it themselves after a second without work. Cheap (a lock per pool), never needed for
    /// correctness. Returns the pools flushed.
    ///
    /// ```swift
    /// // A producer thread, done with its burst:
    /// MemoryOptimizer.flushThreadCaches()
    /// ```
    @discardableResult
    public static func flushThreadCaches() -> Int {
        Int(cnv_slab_flush_thread_caches())
    }

    /// The plan's name for ``releaseMemory(dropPooledObjects:)``, kept so code written against
    /// the plan compiles: the same call. There is no garbage collector to optimize; what runs
    /// is the release of free pool and allocator memory to the operating system.
    ///
    /// ```swift
    /// optimizer.optimizeGC()   // same as optimizer.releaseMemory()
    /// ```
    @discardableResult
    public func optimizeGC(dropPooledObjects: Bool = false) -> MemoryReleaseReport {
        self.releaseMemory(dropPooledObjects: dropPooledObjects)
    }
}
