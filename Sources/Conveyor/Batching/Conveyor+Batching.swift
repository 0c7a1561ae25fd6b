import CConveyor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A task kind whose tasks are grouped and run in one handler call per batch, registered with
/// ``Conveyor/registerBatch(_:payload:options:groupBy:handler:)`` (or its `output:` variants).
/// A submit writes its task into a slot of the kind's accumulating batch for its key (no
/// allocation per submit); only a full (or due) batch travels through the group's lane, as one
/// flush token that a worker runs by calling the handler once.
///
/// ```swift
/// struct Row: BitwiseCopyable, Sendable { var id: Int64; var value: Double }
/// let insert = try conveyor.registerBatch("insert", payload: Row.self) { rows in
///     try database.insertAll(rows)          // one transaction for the whole batch
/// }
/// try conveyor.submit(insert, Row(id: 1, value: 2.5))
/// ```
public struct BatchKind<Payload: BitwiseCopyable & Sendable, Output: Sendable>: Sendable {
    public let name: String
    /// The engine that registered the kind.
    @usableFromInline let engine: ObjectIdentifier
    @usableFromInline let base: BatchCoreBase
    let core: BatchCore<Payload, Output>

    /// The size limit in force now (the registered one, or the optimizer's choice).
    public var maxBatchSize: Int { self.core.maxBatchSize.load(ordering: .relaxed) }
    /// How long a batch's oldest task waits for more before the batch is flushed anyway.
    public var maxWaitTime: Duration { self.core.maxWait }
}

extension Conveyor {
    // MARK: Registering batch kinds

    /// Registers a batch kind whose handler returns nothing: every item of a call succeeds,
    /// or the call throws and each of its tasks fails with that error.
    ///
    /// ```swift
    /// let insert = try conveyor.registerBatch("insert", payload: Row.self,
    ///                                         options: BatchOptions(maxBatchSize: 100, group: "db")) { rows in
    ///     try database.insertAll(rows)
    /// }
    /// ```
    /// - Parameters:
    ///   - groupBy: a key from the payload; tasks of different keys never share a batch.
    ///     Without it a kind has one accumulator (its group and its kind).
    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for `maxBatchSize` 0, a
    ///   `maxWaitTime` ≤ 0, a blank or repeated name, a payload over 64 bytes;
    ///   ``ConveyorError/unknownGroup(name:)``.
    public func registerBatch<Payload: BitwiseCopyable & Sendable>(
        _ name: String, payload: Payload.Type = Payload.self, options: BatchOptions = BatchOptions(),
        groupBy: (@Sendable (Payload) -> UInt64)? = nil,
        handler: @escaping @Sendable ([Payload]) throws -> Void
    ) throws -> BatchKind<Payload, Void> {
        try self.registerBatchKind(name, options: options, groupBy: groupBy, body: .void(handler))
    }

    /// Registers a batch kind whose handler returns one result per item, in the items' order
    /// (`run` callers get theirs). Returning another number of results fails every task of
    /// the call with ``ConveyorError/batchResultCount(kind:expected:got:)``.
    ///
    /// ```swift
    /// let lookup = try conveyor.registerBatch("lookup", payload: UInt64.self, output: String.self) { ids in
    ///     try database.names(for: ids)          // [String], one per id
    /// }
    /// let name = try await conveyor.run(lookup, 42)
    /// ```
    public func registerBatch<Payload: BitwiseCopyable & Sendable, Output: Sendable>(
        _ name: String, payload: Payload.Type = Payload.self, output: Output.Type, options: BatchOptions = BatchOptions(),
        groupBy: (@Sendable (Payload) -> UInt64)? = nil,
        handler: @escaping @Sendable ([Payload]) throws -> [Output]
    ) throws -> BatchKind<Payload, Output> {
        try self.registerBatchKind(name, options: options, groupBy: groupBy, body: .results(handler))
    }

    /// Registers a batch kind whose handler reports a result or an error per item.
    ///
    /// ```swift
    /// let parse = try conveyor.registerBatch("parse", payload: Line.self, output: Int.self) { lines in
    ///     lines.map { line in Result { try parseLine(line) } }
    /// } as BatchKind<Line, Int>
    /// ```
    public func registerBatch<Payload: BitwiseCopyable & Sendable, Output: Sendable>(
        _ name: String, payload: Payload.Type = Payload.self, output: Output.Type, options: BatchOptions = BatchOptions(),
        groupBy: (@Sendable (Payload) -> UInt64)? = nil,
        perItem handler: @escaping @Sendable ([Payload]) throws -> [Result<Output, any Error>]
    ) throws -> BatchKind<Payload, Output> {
        try self.registerBatchKind(name, options: options, groupBy: groupBy, body: .perItem(handler))
    }

    private func registerBatchKind<Payload: BitwiseCopyable & Sendable, Output: Sendable>(
        _ name: String, options: BatchOptions, groupBy: (@Sendable (Payload) -> UInt64)?,
        body: BatchCore<Payload, Output>.Body
    ) throws -> BatchKind<Payload, Output> {
        guard name.contains(where: { !$0.isWhitespace }) else {
            throw ConveyorError.invalidConfiguration(
                reason: "a batch kind needs a name with at least one visible character (got \"\(name)\")")
        }
        try options.validate(kind: name)
        let capacity = TaskKind<Payload>.inlinePayloadCapacity
        guard MemoryLayout<Payload>.size <= capacity, MemoryLayout<Payload>.alignment <= 16 else {
            throw ConveyorError.invalidConfiguration(
                reason: "payload \(Payload.self) of batch kind \"\(name)\" is \(MemoryLayout<Payload>.size) bytes; "
                    + "inline payloads hold at most \(capacity) bytes aligned to 16: pass an index into your own storage")
        }
        let groupIndex: Int
        if let group = options.group {
            guard let position = self.groupIndex[group] else { throw ConveyorError.unknownGroup(name: group) }
            groupIndex = position
        } else {
            groupIndex = try self.route(kind: name)
        }
        let core = BatchCore<Payload, Output>(
            name: name, groupIndex: groupIndex, groupName: self.groups[groupIndex].name, options: options,
            groupBy: groupBy, body: body)
        let handler = BatchKindHandler(core: core)
        core.kindHandler = Unmanaged.passUnretained(handler).toOpaque()
        try self.registeredKinds.withLock { kinds in
            guard kinds.indexByName[name] == nil else {
                throw ConveyorError.invalidConfiguration(
                    reason: "kind \"\(name)\" is already registered with this Conveyor; register each kind once and "
                        + "reuse its BatchKind (or pick another name)")
            }
            kinds.indexByName[name] = kinds.handlers.count
            kinds.handlers.append(handler)
        }
        return BatchKind(name: name, engine: ObjectIdentifier(self), base: core, core: core)
    }

    // MARK: Submitting batch tasks

    /// Queues one task of a batch kind (fire-and-forget: a failed item goes to ``failures``
    /// and `onFailure`; results are dropped). Allocates nothing once the record pool is warm.
    /// The ticket cancels it until its batch is flushed. Under the `.wait` policy a full group
    /// blocks the calling thread until there is room.
    ///
    /// ```swift
    /// let ticket = try conveyor.submit(insert, Row(id: 7, value: 1))
    /// conveyor.cancel(ticket)   // true while its batch has not been flushed
    /// ```
    @inlinable
    @discardableResult
    public func submit<Payload, Output>(_ kind: BatchKind<Payload, Output>, _ payload: Payload) throws -> TaskTicket {
        try withUnsafeBytes(of: payload) { try self.submitBatchTask(kind.base, kind.engine, $0) }
    }

    /// The non-generic core of batch submits.
    @usableFromInline
    func submitBatchTask(_ core: BatchCoreBase, _ engine: ObjectIdentifier, _ payload: UnsafeRawBufferPointer) throws -> TaskTicket {
        guard engine == ObjectIdentifier(self), core.kindHandler != nil else { throw Self.foreignBatchKind(core) }
        return try core.submit(payload, waiter: nil, engine: self, blocking: true)
    }

    private func checkBatchOwnership(_ core: BatchCoreBase, _ engine: ObjectIdentifier) throws {
        guard engine == ObjectIdentifier(self), core.kindHandler != nil else { throw Self.foreignBatchKind(core) }
    }

    /// The error of a batch kind used with an engine that did not register it (built out of
    /// line: the submit's path keeps no string interpolation).
    @inline(never)
    private static func foreignBatchKind(_ core: BatchCoreBase) -> ConveyorError {
        .invalidConfiguration(reason: "batch kind \"\(core.name)\" was registered with another Conveyor; register it with this one")
    }

    /// Queues one task of a batch kind and returns its own result once its batch ran: the
    /// handler's result for this item, or its error (the call's error when the handler threw).
    /// Cancelling the calling Swift task removes the task from its batch if that batch has
    /// not been flushed (``CancellationError``). Under `.wait` a full lane makes the batch's
    /// token wait for room in a Swift task; no thread blocks.
    ///
    /// ```swift
    /// let name = try await conveyor.run(lookup, 42)
    /// ```
    public func run<Payload, Output>(_ kind: BatchKind<Payload, Output>, _ payload: Payload) async throws -> Output {
        let core = kind.core
        try self.checkBatchOwnership(core, kind.engine)
        let handler = BatchAwaitHandler<Output>(core: core)
        let ticketBox = PendingTicket()
        let name = kind.name
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
                handler.continuation = continuation
                do {
                    let waiter = Unmanaged.passRetained(handler).toOpaque()
                    let ticket = try withUnsafeBytes(of: payload) { try core.submit($0, waiter: waiter, engine: self, blocking: false) }
                    if ticketBox.publish(ticket), self.cancel(ticket) {
                        _ = handler.abandon(.cancelled(kind: name))
                    }
                } catch {
                    handler.resume(with: .failure(error))
                }
            }
        } onCancel: {
            if let ticket = ticketBox.requestCancel(), self.cancel(ticket) {
                _ = handler.abandon(.cancelled(kind: name))
            }
        }
    }

    // MARK: Statistics

    /// The figures of every batch kind, by kind name.
    public var batchStatistics: [String: BatchStatistics] {
        var all: [String: BatchStatistics] = [:]
        for core in self.batchCores() { all[core.name] = core.statistics }
        return all
    }

    /// The figures of one batch kind.
    ///
    /// ```swift
    /// print(try conveyor.batchStatistics(for: insert).addedWait.p99)
    /// ```
    public func batchStatistics<Payload, Output>(for kind: BatchKind<Payload, Output>) throws -> BatchStatistics {
        guard kind.engine == ObjectIdentifier(self) else {
            throw ConveyorError.invalidConfiguration(
                reason: "batch kind \"\(kind.name)\" was registered with another Conveyor; ask that one")
        }
        return kind.core.statistics
    }

    // MARK: Engine hooks

    /// Whether the record at `address` is a batch kind's flush token.
    static func isBatchRecord(_ address: UInt) -> Bool {
        UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!.pointee.flags & BatchFlags.task != 0
    }

    /// A worker took a batch kind's flush token: the kind flushes its batch.
    func acceptBatchTask(_ record: UnsafeMutablePointer<cnv_task_record>, group: GroupRuntime, worker: WorkerState) {
        // The handler is alive (the kind table keeps it), and so is its core.
        let core = Unmanaged<BatchTaskHandler>.fromOpaque(record.pointee.handler!)._withUnsafeGuaranteedRef { $0.coreReference }
        core._withUnsafeGuaranteedRef { $0.accept(record, group: group, recorder: worker.recorder, engine: self) }
    }

    /// A draining worker found no work: flushes its group's unflushed batches on this thread.
    /// Returns true when it flushed any (the worker then looks for work again).
    func flushPendingBatches(of group: GroupRuntime, worker: WorkerState) -> Bool {
        var flushed = false
        for core in self.batchCores() where self.groups[core.groupIndex] === group {
            for chunk in core.takeAll().chunks {
                flushed = true
                core.flush(chunk, group: group, recorder: worker.recorder, engine: self)
                core.recycle(chunk)
            }
        }
        return flushed
    }

    /// After the workers exited: `run` flushes what is left (batches not full, or whose token
    /// could not be queued), else fails it as not started. Waits for tokens being queued
    /// right now (they either reached a ring, whose sweep ran them, or come back parked).
    func settlePendingBatches(run: Bool) {
        for core in self.batchCores() {
            let group = self.groups[core.groupIndex]
            var worker: WorkerState?
            while true {
                let (chunks, inTransit) = core.takeAll()
                if chunks.isEmpty {
                    if inTransit == 0 { break }
                    usleep(100)
                    continue
                }
                if worker == nil { worker = (try? group.recorders.makeRecorder()).map { WorkerState(recorder: $0) } }
                for chunk in chunks {
                    if run {
                        core.flush(chunk, group: group, recorder: worker?.recorder, engine: self)
                    } else {
                        core.failNotStarted(chunk, group: group, recorder: worker?.recorder, engine: self)
                    }
                    core.recycle(chunk)
                }
            }
        }
    }

    /// Every batch kind's core, in registration order (off the per-task path).
    func batchCores() -> [BatchCoreBase] {
        self.registeredKinds.withLock { kinds in kinds.handlers.compactMap { ($0 as? BatchKindHandler)?.core } }
    }
}

extension BatchCoreBase {
    var statistics: BatchStatistics {
        let pending = self.pendingCount
        let limit = self.maxBatchSize.load(ordering: .relaxed)
        return self.stats.withLock { state in
            let span = Double(state.lastFlushNanoseconds &- state.firstFlushNanoseconds) / 1e9
            return BatchStatistics(
                kind: self.name, group: self.groupName, batches: state.batches, tasks: state.tasks,
                failedTasks: state.failed, removedCancelled: state.removed, pending: pending, maxBatchSize: limit,
                batchesPerSecond: state.batches > 1 && span > 0 ? Double(state.batches - 1) / span : 0,
                sizeHistogram: state.sizes, addedWait: state.addedWait, handlerTime: state.handlerTime)
        }
    }
}

/// The ticket of a batch task awaited by `run`, published once it is queued, and a
/// cancellation that may come before it (then the publisher cancels).
final class PendingTicket: Sendable {
    private let state = PThreadMutex<PendingState>(PendingState())

    struct PendingState: Sendable {
        var ticket: TaskTicket?
        var cancelRequested = false
    }

    /// Stores the ticket; returns true when cancellation was already requested.
    func publish(_ ticket: TaskTicket) -> Bool {
        self.state.withLock {
            $0.ticket = ticket
            return $0.cancelRequested
        }
    }

    /// Marks cancellation; returns the ticket if it is known already.
    func requestCancel() -> TaskTicket? {
        self.state.withLock {
            $0.cancelRequested = true
            return $0.ticket
        }
    }
}
