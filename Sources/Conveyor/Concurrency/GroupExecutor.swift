import CConveyor

/// A Swift `TaskExecutor` backed by a ``ResourceGroup``: jobs of tasks that prefer it run on
/// the group's worker threads, between its queued tasks (a job goes to the group's hand-off
/// queue, which workers serve first), and are counted in ``Conveyor/GroupStatistics/executorJobs``.
/// Get it with ``Conveyor/executor(for:)``; use it with `withTaskExecutorPreference` or
/// `Task(executorPreference:)`.
///
/// ```swift
/// let io = try conveyor.executor(for: "io")
/// let page = try await withTaskExecutorPreference(io) {
///     try await client.get(url)          // resumes on an "io" worker thread after each suspension
/// }
/// Task(executorPreference: io) { await refreshCaches() }
/// ```
///
/// A preference is only a preference: jobs enqueued after ``Conveyor/shutdown(drain:)`` began
/// (or when no task record can be allocated) run on the global concurrent executor instead,
/// so a task that prefers this executor never hangs. Work that blocks a thread blocks one
/// of the group's workers here: keep long synchronous work in synchronous tasks.
public final class GroupExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: immutable after init; the objects it points at are thread-safe.
    /// The group's name.
    public let group: String
    let runtime: GroupRuntime
    /// Keeps the engine's record memory alive as long as the executor (it may outlive the engine).
    let records: FixedSizeAllocator

    init(runtime: GroupRuntime, records: FixedSizeAllocator) {
        self.group = runtime.name
        self.runtime = runtime
        self.records = records
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let admission = self.runtime.admission
        if admission.enterJobs() {
            defer { admission.leaveJobs() }
            if let memory = cnv_allocator_alloc(self.records.descriptor) {
                let record = memory.assumingMemoryBound(to: cnv_task_record.self)
                record.pointee.submit_ticks = 0
                record.pointee.deadline_ns = 0
                record.pointee.handler = ExecutorJobHandler.shared.opaque
                record.pointee.flags = 0
                record.pointee.spill_charge = 0
                record.pointee.priority = 0
                UnsafeMutableRawPointer(cnv_task_payload(record)!).initializeMemory(
                    as: JobPayload.self, repeating: JobPayload(job: unowned, executor: self.asUnownedTaskExecutor()), count: 1)
                _ = cnv_task_begin(record)
                let hot = self.runtime.hot
                if cnv_overflow_queue_enqueue(hot.handoff, UInt(bitPattern: record)) == CNV_OK.rawValue {
                    cnv_parker_notify(hot.parker)
                    return
                }
                cnv_allocator_free(self.records.descriptor, record)
            }
        }
        globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}

/// What a job record's payload holds.
struct JobPayload {
    var job: UnownedJob
    var executor: UnownedTaskExecutor
}

/// The one handler of every executor job record: runs the job on the worker.
final class ExecutorJobHandler: TaskHandler, @unchecked Sendable {
    static let shared = ExecutorJobHandler()
    /// `shared` as the opaque pointer records carry (unretained: a static lives forever).
    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    private init() {
        super.init(kind: "executor job")
    }

    override func run(_ record: UnsafeMutablePointer<cnv_task_record>, context: RunContext) -> TaskOutcome {
        let payload = UnsafeRawPointer(cnv_task_payload(record)!).load(as: JobPayload.self)
        payload.job.runSynchronously(on: payload.executor)
        return .executorJob
    }

    /// A job record is never cancelled (it has no ticket); if it were dropped, its task
    /// would hang: run it on the global executor instead.
    override func dispose(_ record: UnsafeMutablePointer<cnv_task_record>) {
        let payload = UnsafeRawPointer(cnv_task_payload(record)!).load(as: JobPayload.self)
        globalConcurrentExecutor.enqueue(ExecutorJob(payload.job))
    }
}

extension Conveyor {
    /// The `TaskExecutor` of a group: tasks that prefer it run on the group's worker threads
    /// (see ``GroupExecutor``). The same object for every call with one group.
    ///
    /// ```swift
    /// let cpu = try conveyor.executor(for: "cpu")
    /// let digest = await withTaskExecutorPreference(cpu) { await hashAll(files) }
    /// ```
    /// - Throws: ``ConveyorError/unknownGroup(name:)``.
    public func executor(for group: String) throws -> GroupExecutor {
        guard let position = self.groupIndex[group] else { throw ConveyorError.unknownGroup(name: group) }
        return self.groups[position].admission.executor(runtime: self.groups[position], records: self.records)
    }
}
