/// One thread's recorders for a profiler's contexts, found through the profiler's pthread
/// key. Only its thread touches it, until the thread exits or the profiler is destroyed;
/// then the ``ProfilerThreadRegistry`` clears it.
///
/// The last context used and its recorder sit in a manually allocated cell, so the hot path
/// (one string comparison, pointer-equal for the same literal, then the recorder) pays no
/// exclusivity check and no reference counting; other contexts are a dictionary lookup.
final class ProfilerThreadTable {
    /// The last context used and its recorder (owned by `recorders`).
    private struct Cache {
        var context: String
        var recorder: Unmanaged<Recorder>?
    }

    let registry: ProfilerThreadRegistry
    private var recorders: [String: Recorder] = Dictionary(minimumCapacity: 8)
    private let cache: UnsafeMutablePointer<Cache>

    init(registry: ProfilerThreadRegistry) {
        self.registry = registry
        self.cache = .allocate(capacity: 1)
        self.cache.initialize(to: Cache(context: "", recorder: nil))
    }

    deinit {
        self.cache.deinitialize(count: 1)
        self.cache.deallocate()
    }

    /// Records `nanoseconds` (and an error) under `context` on this thread's recorder, made on
    /// first use (cold: takes locks, allocates). Dropped when the context's recorder set is
    /// full (more threads than its capacity).
    @inline(__always)
    func record(_ nanoseconds: UInt64, failed: Bool, context: String, in contexts: ProfilerContexts) {
        if let recorder = self.cache.pointee.recorder, context == self.cache.pointee.context {
            recorder._withUnsafeGuaranteedRef { recorder in
                recorder.record(nanoseconds, in: 0)
                if failed { recorder.increment(0) }
            }
            return
        }
        guard let recorder = self.lookUp(context, in: contexts) else { return }
        recorder.record(nanoseconds, in: 0)
        if failed { recorder.increment(0) }
    }

    /// Releases the recorders (their statistics stay in their sets).
    func clear() {
        self.cache.pointee = Cache(context: "", recorder: nil)
        self.recorders.removeAll()
    }

    private func lookUp(_ context: String, in contexts: ProfilerContexts) -> Recorder? {
        let recorder: Recorder
        if let known = self.recorders[context] {
            recorder = known
        } else {
            guard let made = try? contexts.recorderSet(for: context).makeRecorder() else { return nil }
            self.recorders[context] = made
            recorder = made
        }
        self.cache.pointee = Cache(context: context, recorder: Unmanaged.passUnretained(recorder))
        return recorder
    }
}
