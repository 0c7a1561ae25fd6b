#if canImport(Glibc)
import Glibc
#endif

/// A profiler's contexts: one ``RecorderSet`` per context name (made on first use), and per
/// thread a ``ProfilerThreadTable`` of that thread's recorders, found through a pthread key.
///
/// The steady-state record is: key lookup → table → cached recorder (or a dictionary hit) →
/// plain stores into the thread's own histogram. No lock, no allocation, nothing shared
/// written. A thread's first use of a context takes the registry lock and allocates.
final class ProfilerContexts: @unchecked Sendable {
    // @unchecked: `key` is written once in init; `sets` is behind a pthread mutex.
    private var key = pthread_key_t()
    let registry = ProfilerThreadRegistry()
    private let sets = PThreadMutex([String: RecorderSet]())
    /// Most threads recording one context at the same time.
    let threadCapacity: Int

    init(threadCapacity: Int) throws {
        self.threadCapacity = threadCapacity
        let status = pthread_key_create(&self.key) { pointer in
            // The thread is exiting: give its recorders back to their sets.
            guard let pointer else { return }
            // The thread's own reference keeps the table alive through this call.
            let registry = Unmanaged<ProfilerThreadTable>.fromOpaque(pointer)._withUnsafeGuaranteedRef { $0.registry }
            registry.threadExited(pointer)
        }
        guard status == 0 else {
            throw ConveyorError.limitReached(
                reason: "no pthread key left for a PerformanceProfiler (\(status)); reuse one profiler instead of creating many")
        }
    }

    deinit {
        self.registry.releaseAll()
        pthread_key_delete(self.key)
    }

    /// The set of `context`, made on first use.
    func recorderSet(for context: String) throws -> RecorderSet {
        try self.sets.withLock { sets in
            if let set = sets[context] { return set }
            let set = try RecorderSet(layout: .profilingContext, capacity: self.threadCapacity)
            sets[context] = set
            return set
        }
    }

    /// Records `nanoseconds` (and an error when `failed`) under `context` on the calling
    /// thread's recorder; dropped when the context's set is full.
    @inline(__always)
    func record(_ nanoseconds: UInt64, failed: Bool, context: String) {
        if let pointer = pthread_getspecific(self.key) {
            Unmanaged<ProfilerThreadTable>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
                $0.record(nanoseconds, failed: failed, context: context, in: self)
            }
            return
        }
        let table = ProfilerThreadTable(registry: self.registry)
        pthread_setspecific(self.key, self.registry.adopt(table))
        table.record(nanoseconds, failed: failed, context: context, in: self)
    }

    /// Whether any thread has recorded under `context`.
    func contains(_ context: String) -> Bool {
        self.sets.withLock { $0[context] != nil }
    }

    /// Every context's figures, merged over threads.
    func snapshots() -> [String: RecorderSnapshot] {
        let sets = self.sets.withLock { $0 }
        return sets.mapValues { $0.snapshot() }
    }

    /// One context's figures, or `nil` for a context never used.
    func snapshot(of context: String) -> RecorderSnapshot? {
        self.sets.withLock { $0[context] }?.snapshot()
    }
}
