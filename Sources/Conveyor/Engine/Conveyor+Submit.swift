import CConveyor
import Foundation

extension Conveyor {
    // MARK: Submitting

    /// Queues one task of a registered kind at normal priority, routed by its kind.
    /// Allocates nothing once the record pool is warm. Under the `.wait` policy a full group
    /// blocks the calling thread until there is room (see ``OverflowPolicy/wait(timeout:)``).
    ///
    /// ```swift
    /// try conveyor.submit(ping, Ping(id: 1))
    /// ```
    @inlinable
    @discardableResult
    public func submit<Payload>(_ kind: TaskKind<Payload>, _ payload: Payload) throws -> TaskTicket {
        // Specialized in the caller: the payload copy is a fixed-size one; the rest is not generic.
        // The payload goes by address (no closure: one capturing the arguments copied them).
        var bytes = payload
        return try self.submitTyped(
            kind.handlerAddress, kind.engine, kind.name, kind.routeSlot, &bytes, MemoryLayout<Payload>.size)
    }

    /// Queues one task of a registered kind with explicit options (group, priority, tags,
    /// deadline).
    ///
    /// ```swift
    /// try conveyor.submit(ping, Ping(id: 2), QueueTask(kind: "ping", priority: .high))
    /// ```
    @inlinable
    @discardableResult
    public func submit<Payload>(_ kind: TaskKind<Payload>, _ payload: Payload, _ task: QueueTask) throws -> TaskTicket {
        // No closure here: capturing `task` in one copied the QueueTask (retaining its strings
        // and tag set, then releasing them: ~110 instructions per task in callgrind).
        var bytes = payload
        return try self.submitTyped(
            kind.handlerAddress, kind.engine, kind.name, kind.routeSlot, &bytes, MemoryLayout<Payload>.size, task: task)
    }

    /// The non-generic core of the typed submit without options: `payload` points at the
    /// payload's `size` bytes.
    @usableFromInline
    func submitTyped(
        _ handler: UInt, _ engine: ObjectIdentifier, _ name: String, _ routeSlot: UInt, _ payload: UnsafeRawPointer,
        _ size: Int
    ) throws -> TaskTicket {
        try self.checkOwnership(engine, name)
        let index = try self.route(kind: name, slot: routeSlot)
        let record = try self.makeRecord(
            handler: UnsafeMutableRawPointer(bitPattern: handler).unsafelyUnwrapped, retained: false, level: 1, deadline: nil)
        Self.copyPayload(UnsafeRawBufferPointer(start: payload, count: size), into: record)
        return try self.enqueueOrFree(record, level: 1, group: index)
    }

    /// The non-generic core of the typed submit with options. `task` is passed as it is
    /// (borrowed), not wrapped in an Optional: that copied the QueueTask (retaining its
    /// strings and tag set, then releasing them) on every call.
    @usableFromInline
    func submitTyped(
        _ handler: UInt, _ engine: ObjectIdentifier, _ name: String, _ routeSlot: UInt, _ payload: UnsafeRawPointer,
        _ size: Int, task: QueueTask
    ) throws -> TaskTicket {
        try self.checkOwnership(engine, name)
        let index = try self.route(task, kind: name, slot: routeSlot)
        let level = task.priority.level
        let deadline = task.deadline == nil ? nil : try Self.validatedDeadline(task.deadline, kind: task.kind)
        let record = try self.makeRecord(
            handler: UnsafeMutableRawPointer(bitPattern: handler).unsafelyUnwrapped, retained: false, level: level,
            deadline: deadline)
        Self.copyPayload(UnsafeRawBufferPointer(start: payload, count: size), into: record)
        return try self.enqueueOrFree(record, level: level, group: index)
    }

    /// Copies a payload into a record's inline storage: whole 8-byte words for the usual
    /// sizes (a few moves instead of a `memcpy` call of a size known only at run time).
    @inline(__always)
    static func copyPayload(_ payload: UnsafeRawBufferPointer, into record: UnsafeMutablePointer<cnv_task_record>) {
        let destination = UnsafeMutableRawPointer(cnv_task_payload(record)!)
        let count = payload.count
        guard count > 0 else { return }
        guard count & 7 == 0, count <= 32, let source = payload.baseAddress else {
            destination.copyMemory(from: payload.baseAddress!, byteCount: count)
            return
        }
        var offset = 0
        while offset < count {
            destination.storeBytes(of: source.loadUnaligned(fromByteOffset: offset, as: UInt64.self), toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
    }

    /// Queues one task of a registered kind, waiting (suspended, not blocking a thread) for
    /// room when the group's policy is `.wait(timeout:)`; other policies behave as `submit`.
    ///
    /// ```swift
    /// try await conveyor.submitWaitingForRoom(ping, Ping(id: 3))
    /// ```
    @discardableResult
    public func submitWaitingForRoom<Payload>(_ kind: TaskKind<Payload>, _ payload: Payload, _ task: QueueTask? = nil) async throws
        -> TaskTicket
    {
        try self.checkOwnership(kind.engine, kind.name)
        let task = task ?? QueueTask(kind: kind.name)
        let index = try self.route(task, kind: kind.name, slot: kind.routeSlot)
        let record = try self.makeRecord(
            handler: kind.handlerPointer, retained: false, level: task.priority.level,
            deadline: Self.validatedDeadline(task.deadline, kind: task.kind))
        UnsafeMutableRawPointer(cnv_task_payload(record)!).storeBytes(of: payload, as: Payload.self)
        return try await self.enqueueWaiting(record, level: task.priority.level, group: index)
    }

    /// Queues many tasks of one kind with as few ring operations as possible. Returns how many
    /// were accepted, in order; when the ring is full and the policy refuses (`.reject`, a
    /// spill limit reached, and `.wait`, which does not wait here) the batch stops early. An
    /// error (``ConveyorError/outOfMemory(what:)``, ``ConveyorError/shutDown``) is thrown only
    /// when no task was accepted; after some were, the call returns their count instead.
    ///
    /// ```swift
    /// let accepted = try conveyor.submit(ping, contentsOf: (0..<100).map { Ping(id: $0) })
    /// ```
    @inlinable
    @discardableResult
    public func submit<Payload, Payloads: Collection<Payload>>(
        _ kind: TaskKind<Payload>, contentsOf payloads: Payloads, _ task: QueueTask? = nil
    ) throws -> Int {
        // Specialized in the caller: payloads are gathered 16 at a time into a stack buffer,
        // and each group of 16 goes to the non-generic core (one ring operation).
        let chunk = Self.bulkChunk
        return try withUnsafeTemporaryAllocation(of: Payload.self, capacity: chunk) { buffer in
            var accepted = 0
            var iterator = payloads.makeIterator()
            while true {
                var filled = 0
                while filled < chunk, let payload = iterator.next() {
                    (buffer.baseAddress! + filled).initialize(to: payload)
                    filled += 1
                }
                if filled == 0 { return accepted }
                let placed: Int
                do {
                    placed = try self.submitTypedBurst(
                        kind.handlerAddress, kind.engine, kind.name, kind.routeSlot, UnsafeRawPointer(buffer.baseAddress!),
                        MemoryLayout<Payload>.stride, MemoryLayout<Payload>.size, filled, task)
                } catch {
                    // Earlier chunks are queued and will run: report them, as a refusal stops the
                    // batch early. Throwing here told the caller none was accepted (found by the
                    // engine fault-injection loop: out of record memory on a later chunk).
                    if accepted > 0 { return accepted }
                    throw error
                }
                accepted += placed
                if placed < filled || filled < chunk { return accepted }
            }
        }
    }

    /// Payloads per ring operation in bulk submits.
    @usableFromInline static var bulkChunk: Int { 16 }

    /// The non-generic core of bulk submit: queues `count` payloads (`size` bytes each, `stride`
    /// apart) with one ring operation; returns how many were accepted, in order.
    @usableFromInline
    func submitTypedBurst(
        _ handler: UInt, _ engine: ObjectIdentifier, _ name: String, _ routeSlot: UInt, _ payloads: UnsafeRawPointer,
        _ stride: Int, _ size: Int, _ count: Int, _ task: QueueTask?
    ) throws -> Int {
        try self.checkOwnership(engine, name)
        let task = task ?? QueueTask(kind: name)
        let index = try self.route(task, kind: name, slot: routeSlot)
        let deadline = try Self.validatedDeadline(task.deadline, kind: task.kind)
        let group = self.groups[index]
        let hot = self.hot[index]
        let lane = hot.lane(forLevel: task.priority.level)
        let handlerPointer = UnsafeMutableRawPointer(bitPattern: handler).unsafelyUnwrapped
        let shard = cnv_gate_enter(self.gate)
        guard shard >= 0 else { throw ConveyorError.shutDown }
        defer { cnv_gate_leave(self.gate, shard) }
        return try withUnsafeTemporaryAllocation(of: UInt.self, capacity: count) { slots in
            for position in 0..<count {
                let record: UnsafeMutablePointer<cnv_task_record>
                do {
                    record = try self.makeRecord(
                        handler: handlerPointer, retained: false, level: task.priority.level, deadline: deadline)
                } catch {
                    // Out of record memory: give back this group's records; the caller reports what was accepted.
                    for made in 0..<position { self.discard(UnsafeMutablePointer(bitPattern: slots[made])!) }
                    throw error
                }
                UnsafeMutableRawPointer(cnv_task_payload(record)!).copyMemory(from: payloads + position * stride, byteCount: size)
                _ = cnv_task_begin(record)
                slots[position] = UInt(bitPattern: record)
            }
            var placed = hot.hasSpilled(lane) ? 0 : cnv_mpmc_enqueue_burst(hot.rings[lane], slots.baseAddress!, count)
            while placed < count {
                do {
                    try self.placeAfterFullRing(UnsafeMutablePointer(bitPattern: slots[placed])!, lane: lane, group: group, hot: hot)
                    placed += 1
                } catch {
                    break
                }
            }
            for rest in placed..<count { self.discard(UnsafeMutablePointer(bitPattern: slots[rest])!) }
            // One wake at most: a woken worker that leaves work queued wakes the next.
            if placed > 0 { cnv_parker_notify(hot.parker) }
            return placed
        }
    }

    /// Queues a closure. Under the `.wait` policy a full group blocks the calling thread until
    /// there is room (``submitWaitingForRoom(_:_:)`` suspends instead).
    ///
    /// ```swift
    /// try conveyor.submit(QueueTask(kind: "log", priority: .low)) { flushLogs() }
    /// ```
    @discardableResult
    public func submit(_ task: QueueTask, _ body: @escaping @Sendable () throws -> Void) throws -> TaskTicket {
        let index = try self.route(task)
        let deadline = try Self.validatedDeadline(task.deadline, kind: task.kind)
        let record = try self.makeRecord(handler: self.closureHandler, retained: false, level: task.priority.level, deadline: deadline)
        ClosureTaskHandler.store(body, kind: task.kind, in: record)
        return try self.enqueueOrFree(record, level: task.priority.level, group: index)
    }

    /// Queues a closure of kind "task" at normal priority, routed like a task of that kind.
    /// The cheapest closure path: the closure value is stored in the task record itself, and
    /// no ``QueueTask`` is built. Under the `.wait` policy a full group blocks the calling thread.
    ///
    /// ```swift
    /// try conveyor.submit { print("hello from a worker") }
    /// ```
    @discardableResult
    public func submit(_ body: @escaping @Sendable () throws -> Void) throws -> TaskTicket {
        let index = try self.route(kind: QueueTask.defaultKind)
        let record = try self.makeRecord(handler: self.closureHandler, retained: false, level: 1, deadline: nil)
        ClosureTaskHandler.store(body, kind: QueueTask.defaultKind, in: record)
        return try self.enqueueOrFree(record, level: 1, group: index)
    }

    /// Queues a closure, waiting (suspended, not blocking a thread) for room when the group's
    /// policy is `.wait(timeout:)`; other policies behave as `submit`.
    ///
    /// ```swift
    /// try await conveyor.submitWaitingForRoom(QueueTask(kind: "mail")) { sendMail() }
    /// ```
    @discardableResult
    public func submitWaitingForRoom(_ task: QueueTask = QueueTask(), _ body: @escaping @Sendable () throws -> Void) async throws
        -> TaskTicket
    {
        let index = try self.route(task)
        let deadline = try Self.validatedDeadline(task.deadline, kind: task.kind)
        let record = try self.makeRecord(handler: self.closureHandler, retained: false, level: task.priority.level, deadline: deadline)
        ClosureTaskHandler.store(body, kind: task.kind, in: record)
        return try await self.enqueueWaiting(record, level: task.priority.level, group: index)
    }

    // `run` (awaited closures) lives in Concurrency/Conveyor+Run.swift.

    /// Cancels a task that has not started. Returns true when it will not run (its `run`
    /// caller, if any, gets `CancellationError`); false when it already started, finished,
    /// expired or was cancelled.
    ///
    /// ```swift
    /// let ticket = try conveyor.submit { work() }
    /// if conveyor.cancel(ticket) { print("it will not run") }
    /// ```
    @discardableResult
    public func cancel(_ ticket: TaskTicket) -> Bool {
        cnv_task_transition(ticket.record, ticket.stateWord, CNV_TASK_CANCELLED)
    }

    /// Refuses a kind registered with another Conveyor (its handler is not in this engine's table).
    @inline(__always)
    private func checkOwnership(_ engine: ObjectIdentifier, _ name: String) throws {
        guard engine == ObjectIdentifier(self) else {
            throw ConveyorError.invalidConfiguration(
                reason: "kind \"\(name)\" was registered with another Conveyor; register it with this one")
        }
    }

    // MARK: Records

    /// Takes a record and fills all but the payload. `handler` is an opaque `TaskHandler`
    /// reference, retained for closures (`retained`), owned by the kind table for registered
    /// kinds. `deadline` is already validated (see ``validatedDeadline(_:kind:)``).
    @inline(__always)
    func makeRecord(
        handler: UnsafeMutableRawPointer, retained: Bool, level: Int, deadline: Duration?
    ) throws -> UnsafeMutablePointer<cnv_task_record> {
        guard let memory = cnv_allocator_alloc(self.recordAllocator) else {
            if retained { Unmanaged<TaskHandler>.fromOpaque(handler).release() }
            throw ConveyorError.outOfMemory(what: "a task record")
        }
        let record = memory.assumingMemoryBound(to: cnv_task_record.self)
        record.pointee.submit_ticks = self.timing ? MonotonicClock.ticks() : 0
        if let deadline {
            record.pointee.deadline_ns = cnv_monotonic_ns() &+ UInt64(max(1, deadline.nanoseconds))
        } else {
            record.pointee.deadline_ns = 0
        }
        record.pointee.handler = handler
        record.pointee.flags = retained ? UInt16(CNV_TASK_FLAG_RETAINED) : 0
        record.pointee.spill_charge = 0
        record.pointee.priority = UInt16(clamping: level)
        return record
    }

    /// Gives back a record that was never queued (what its payload owns, and the handler
    /// reference it held).
    func discard(_ record: UnsafeMutablePointer<cnv_task_record>) {
        if let handler = record.pointee.handler {
            let task = Unmanaged<TaskHandler>.fromOpaque(handler)
            task._withUnsafeGuaranteedRef { $0.dispose(record) }
            if record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0 { task.release() }
        }
        cnv_allocator_free(self.recordAllocator, record)
    }

    /// Queues a prepared record; on failure the record is still the caller's.
    @inline(__always)
    func enqueue(_ record: UnsafeMutablePointer<cnv_task_record>, level: Int, group index: Int) throws -> TaskTicket {
        let shard = cnv_gate_enter(self.gate)
        guard shard >= 0 else { throw ConveyorError.shutDown }
        defer { cnv_gate_leave(self.gate, shard) }
        let state = cnv_task_begin(record)
        let hot = self.hot[index]
        let lane = hot.lane(forLevel: level)
        if hot.hasSpilled(lane) || !cnv_mpmc_try_enqueue(hot.rings[lane], UInt(bitPattern: record)) {
            try self.placeAfterFullRing(record, lane: lane, group: self.groups[index], hot: hot)
        }
        cnv_parker_notify(hot.parker)
        return TaskTicket(recordAddress: UInt(bitPattern: record), stateWord: state)
    }

    /// Queues a record; under the `.wait` policy a full ring blocks this (non-worker) thread
    /// until there is room or the timeout passed. On failure the record is freed.
    @inline(__always)
    func enqueueOrFree(_ record: UnsafeMutablePointer<cnv_task_record>, level: Int, group index: Int) throws -> TaskTicket {
        do {
            return try self.enqueue(record, level: level, group: index)
        } catch ConveyorError.queueFull(_, _, .ring) where self.groups[index].waitTimeout != nil {
            do {
                return try self.enqueueBlocking(record, level: level, group: index)
            } catch {
                self.discard(record)
                throw error
            }
        } catch {
            self.discard(record)
            throw error
        }
    }

    /// The `.wait` policy for a synchronous submit: retries with a brief spin, then sleeps of
    /// 20 µs growing to 1 ms, until there is room or the timeout passed. The gate is left
    /// between tries, so a shutdown never waits for a blocked submitter.
    private func enqueueBlocking(_ record: UnsafeMutablePointer<cnv_task_record>, level: Int, group index: Int) throws
        -> TaskTicket
    {
        let group = self.groups[index]
        guard let timeout = group.waitTimeout else { return try self.enqueue(record, level: level, group: index) }
        guard !cnv_on_worker_thread() else {
            throw ConveyorError.queueFull(group: group.name, capacity: group.configuration.capacity, exhausted: .waitOnWorkerThread)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var attempt = 0
        var delay: UInt32 = 20
        while true {
            do {
                return try self.enqueue(record, level: level, group: index)
            } catch ConveyorError.queueFull(_, _, .ring) {
                // No room yet.
            }
            if clock.now >= deadline {
                throw ConveyorError.queueFull(
                    group: group.name, capacity: group.configuration.capacity, exhausted: .waitTimeout(timeout))
            }
            attempt += 1
            if attempt < 64 {
                for _ in 0..<32 { cnv_cpu_relax() }
            } else {
                usleep(delay)
                delay = min(delay * 2, 1_000)
            }
        }
    }

    /// Queues a record, waiting (with a growing sleep, never blocking a thread) for room when
    /// the group's policy is `.wait`. Workers never wait: they could be waiting for themselves.
    func enqueueWaiting(_ record: UnsafeMutablePointer<cnv_task_record>, level: Int, group index: Int) async throws
        -> TaskTicket
    {
        let group = self.groups[index]
        guard let timeout = group.waitTimeout else { return try self.enqueueOrFree(record, level: level, group: index) }
        let deadline = ContinuousClock.now + timeout
        var delay: UInt64 = 20_000
        while true {
            do {
                return try self.enqueue(record, level: level, group: index)
            } catch ConveyorError.queueFull(_, _, .ring) {
                let exhausted: ConveyorError.Exhausted? =
                    cnv_on_worker_thread()
                    ? .waitOnWorkerThread
                    : ContinuousClock.now >= deadline ? .waitTimeout(timeout) : nil
                if let exhausted {
                    self.discard(record)
                    throw ConveyorError.queueFull(group: group.name, capacity: group.configuration.capacity, exhausted: exhausted)
                }
            } catch {
                self.discard(record)
                throw error
            }
            do {
                try await Task.sleep(nanoseconds: delay)
            } catch {
                self.discard(record)
                throw error
            }
            delay = min(delay * 2, 1_000_000)
        }
    }

    /// The ring of `lane` was full (or the lane has spilled): apply the overflow policy.
    /// `.reject` and `.wait` throw ``ConveyorError/Exhausted/ring(level:)`` (the callers that
    /// wait retry); `.spill` queues the record in the overflow queue, counting its bytes
    /// against the group's memory limit.
    func placeAfterFullRing(
        _ record: UnsafeMutablePointer<cnv_task_record>, lane: Int, group: GroupRuntime, hot: GroupHotPath
    ) throws {
        guard case .spill(let limit) = group.configuration.overflow, let overflow = group.lanes[lane].overflow else {
            throw ConveyorError.queueFull(group: group.name, capacity: group.configuration.capacity, exhausted: .ring(level: lane))
        }
        // While older tasks of this lane sit in the overflow queue, newer ones follow them there.
        if !hot.hasSpilled(lane), cnv_mpmc_try_enqueue(hot.rings[lane], UInt(bitPattern: record)) { return }
        let charge = Self.spillCharge(of: record)
        // Add first, then check: concurrent spills can never take the total past the limit.
        let (used, total) = group.spilledBytes.wrappingAdd(charge, ordering: .relaxed)
        guard total <= limit else {
            group.spilledBytes.wrappingSubtract(charge, ordering: .relaxed)
            throw ConveyorError.queueFull(
                group: group.name, capacity: group.configuration.capacity,
                exhausted: .spillMemory(limit: limit, used: used, needed: charge))
        }
        record.pointee.spill_charge = UInt32(clamping: charge)
        do {
            try overflow.enqueue(UInt(bitPattern: record))
        } catch {
            group.spilledBytes.wrappingSubtract(charge, ordering: .relaxed)
            throw error
        }
    }

    /// Bytes a spilled task holds: its record, its overflow-queue node and, for closures, the
    /// box the engine allocated around the closure (its usable allocation size).
    static func spillCharge(of record: UnsafeMutablePointer<cnv_task_record>) -> Int {
        var bytes = Self.taskRecordSize + Int(cnv_overflow_queue_node_size())
        if record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0, let handler = record.pointee.handler {
            bytes += cnv_allocation_size(handler)
        }
        return bytes
    }
}
