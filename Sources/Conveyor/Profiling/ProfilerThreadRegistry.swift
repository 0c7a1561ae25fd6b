/// The live ``ProfilerThreadTable``s of one profiler.
///
/// A table has two owners: its thread (through the profiler's pthread key) and this
/// registry. Whoever removes it from here first (the thread's key destructor when the thread
/// exits, or ``releaseAll()`` when the profiler is destroyed) clears it, which releases its
/// recorders (their statistics stay in their sets), and drops the registry's reference. The
/// thread's own reference keeps the table valid while its destructor runs, so the two never
/// race on freed memory. A thread still alive when the profiler dies keeps only an empty
/// table (its destructor no longer runs once the key is deleted): a few dozen bytes.
final class ProfilerThreadRegistry: Sendable {
    private let tables = PThreadMutex(Set<UInt>())

    /// Registers `table` for the calling thread; returns the pointer to store under the key
    /// (it carries the thread's reference).
    func adopt(_ table: ProfilerThreadTable) -> UnsafeMutableRawPointer {
        let pointer = Unmanaged.passRetained(table).toOpaque()  // the registry's reference
        _ = Unmanaged.passRetained(table)                        // the thread's reference
        self.tables.withLock { _ = $0.insert(UInt(bitPattern: pointer)) }
        return pointer
    }

    /// The table's thread is exiting (called from the key destructor on that thread).
    func threadExited(_ pointer: UnsafeMutableRawPointer) {
        self.retire(pointer)
        Unmanaged<ProfilerThreadTable>.fromOpaque(pointer).release()  // the thread's reference
    }

    /// The profiler is going away (no thread can be profiling with it): retire every table.
    func releaseAll() {
        let all = self.tables.withLock { $0 }
        for bits in all {
            if let pointer = UnsafeMutableRawPointer(bitPattern: bits) { self.retire(pointer) }
        }
    }

    /// Removes the table; the caller that removed it clears it and drops the registry's reference.
    private func retire(_ pointer: UnsafeMutableRawPointer) {
        let owned = self.tables.withLock { $0.remove(UInt(bitPattern: pointer)) != nil }
        guard owned else { return }
        let table = Unmanaged<ProfilerThreadTable>.fromOpaque(pointer)
        table._withUnsafeGuaranteedRef { $0.clear() }
        table.release()  // the registry's reference
    }
}
