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
        let handlerPointer = UnsafeMutableRawPointer(bitPattern: handler).unsafelyUnwrapped
        if !Self.isAsync(handlerPointer),
            let ticket = try self.enqueueInSlot(handler: handlerPointer, level: 1, group: index, deadline: nil, fill: {
                Self.copyPayload(UnsafeRawBufferPointer(start: payload, count: size), into: $0)
            })
        {
            return ticket
        }
        let record = try self.makeRecord(handler: handlerPointer, retained: false, level: 1, deadline: nil)
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
        let handlerPointer = UnsafeMutableRawPointer(bitPattern: handler).unsafelyUnwrapped
        if !Self.isAsync(handlerPointer),
            let ticket = try self.enqueueInSlot(handler: handlerPointer, level: level, group: index, deadline: deadline, fill: {
                Self.copyPayload(UnsafeRawBufferPointer(start: payload, count: size), into: $0)
            })
        {
            return ticket
        }
        let record = try self.makeRecord(handler: handlerPointer, retained: false, level: level, deadline: deadline)
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
        let level = task.priority.level
        var placed = 0
        // In slots: one claim for as many as fit, each written in place and published.
        if !Self.isAsync(handlerPointer), !hot.hasSpilled(lane) {
            let ring = hot.rings[lane]
            var first: UInt64 = 0
            placed = cnv_slot_ring_claim_burst(ring, count, &first)
            // Nothing claimed and the ring closed: refused, nothing queued (no gate: the
            // CLOSED bit in the tail refuses the claim, see cnv_slot_ring.h).
            if placed == 0, cnv_slot_ring_is_closed(ring) { throw ConveyorError.shutDown }
            if placed > 0 {
                let ticks = self.timing ? MonotonicClock.ticks() : 0
                let deadlineNanoseconds = Self.deadlineNanoseconds(deadline)
                for position in 0..<placed {
                    let slot = cnv_slot_ring_at(ring, first &+ UInt64(position))
                    let record = cnv_slot_record(slot)!
                    Self.fillSlotRecord(record, handler: handlerPointer, level: level, ticks: ticks, deadlineNanoseconds: deadlineNanoseconds)
                    _ = cnv_task_begin(record)
                    UnsafeMutableRawPointer(cnv_task_payload(record)!).copyMemory(from: payloads + position * stride, byteCount: size)
                    cnv_slot_publish(slot)
                }
            }
        }
        // The rest (async kinds, a full ring or a spilled lane): records, then the overflow
        // policy, stopping at the first refusal.
        while placed < count {
            let record: UnsafeMutablePointer<cnv_task_record>
            do {
                record = try self.makeRecord(handler: handlerPointer, retained: false, level: level, deadline: deadline)
            } catch {
                // Out of record memory: report what was accepted, or the error when nothing was.
                if placed == 0 { throw error }
                break
            }
            UnsafeMutableRawPointer(cnv_task_payload(record)!).copyMemory(from: payloads + placed * stride, byteCount: size)
            _ = cnv_task_begin(record)
            // Through an indirect slot while the ring has room (async kinds), else the policy.
            if !hot.hasSpilled(lane) {
                if cnv_slot_ring_push_record(hot.rings[lane], record) {
                    placed += 1
                    continue
                }
                if cnv_slot_ring_is_closed(hot.rings[lane]) {
                    self.discard(record)
                    if placed == 0 { throw ConveyorError.shutDown }
                    break
                }
            }
            do {
                try self.placeAfterFullRing(record, lane: lane, group: group, hot: hot)
                placed += 1
            } catch {
                self.discard(record)
                if placed == 0, case ConveyorError.shutDown = error { throw error }
                break
            }
        }
        // One wake at most: a woken worker that leaves work queued wakes the next.
        if placed > 0 { cnv_parker_notify(hot.parker) }
        return placed
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
        if let ticket = try self.enqueueInSlot(handler: self.closureHandler, level: task.priority.level, group: index, deadline: deadline, fill: {
            ClosureTaskHandler.store(body, kind: task.kind, in: $0)
        }) {
            return ticket
        }
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
        if let ticket = try self.enqueueInSlot(handler: self.closureHandler, level: 1, group: index, deadline: nil, fill: {
            ClosureTaskHandler.store(body, kind: QueueTask.defaultKind, in: $0)
        }) {
            return ticket
        }
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

    // MARK: Slots

    /// Whether a handler's tasks are async (their records may wait in the group's admission
    /// list after a worker took them, so they must not hold a ring slot: they take records).
    @inline(__always)
    static func isAsync(_ handler: UnsafeMutableRawPointer) -> Bool {
        Unmanaged<TaskHandler>.fromOpaque(handler)._withUnsafeGuaranteedRef { $0.isAsync }
    }

    /// Monotonic nanoseconds by which a task with this (validated) deadline must start; 0 for none.
    @inline(__always)
    static func deadlineNanoseconds(_ deadline: Duration?) -> UInt64 {
        guard let deadline else { return 0 }
        return cnv_monotonic_ns() &+ UInt64(max(1, deadline.nanoseconds))
    }

    /// Writes everything but the payload and the state word into a claimed slot's record.
    @inline(__always)
    static func fillSlotRecord(
        _ record: UnsafeMutablePointer<cnv_task_record>, handler: UnsafeMutableRawPointer, level: Int, ticks: UInt64,
        deadlineNanoseconds: UInt64
    ) {
        record.pointee.submit_ticks = ticks
        record.pointee.deadline_ns = deadlineNanoseconds
        record.pointee.handler = handler
        record.pointee.spill_charge = 0
        // The lane the slot belongs to is `lane(forLevel: priority)`: `finish` releases it there.
        record.pointee.priority = UInt16(clamping: level)
        record.pointee.flags = UInt16(CNV_TASK_FLAG_IN_SLOT)
    }

    /// The in-slot path (issue 10): claims a slot of the lane's ring and writes the task into
    /// it, so nothing is allocated and the worker runs it in place. Returns nil, having queued
    /// nothing and called nothing of `fill`, when the task must take the record path instead:
    /// the lane has spilled (newer tasks follow older ones into the overflow queue) or its ring
    /// is full at the tail (then the overflow policy applies, as for records). The caller has
    /// sent async handlers to the record path.
    @inline(__always)
    func enqueueInSlot(
        handler: UnsafeMutableRawPointer, level: Int, group index: Int, deadline: Duration?,
        fill: (UnsafeMutablePointer<cnv_task_record>) -> Void
    ) throws -> TaskTicket? {
        let hot = self.hot[index]
        let lane = hot.lane(forLevel: level)
        guard !hot.hasSpilled(lane) else { return nil }
        // No gate (issue 10): a shutdown sets the ring's CLOSED bit, which refuses this claim,
        // then waits until every slot claimed before the bit is published. So from here to the
        // publish below nothing may wait for anyone.
        guard let slot = cnv_slot_ring_claim(hot.rings[lane]) else {
            if cnv_slot_ring_is_closed(hot.rings[lane]) { throw ConveyorError.shutDown }
            return nil
        }
        let record = cnv_slot_record(slot)!
        Self.fillSlotRecord(
            record, handler: handler, level: level, ticks: self.timing ? MonotonicClock.ticks() : 0,
            deadlineNanoseconds: Self.deadlineNanoseconds(deadline))
        // The slot's state word carries on its generation: a ticket of the slot's earlier task
        // (same address, older generation) can never cancel this one.
        let state = cnv_task_begin(record)
        fill(record)
        cnv_slot_publish(slot)
        cnv_parker_notify(hot.parker)
        return TaskTicket(recordAddress: UInt(bitPattern: record), stateWord: state)
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
        let state = cnv_task_begin(record)
        let hot = self.hot[index]
        let lane = hot.lane(forLevel: level)
        // No gate here either: the ring's CLOSED bit refuses the push after a shutdown began;
        // the overflow path (placeAfterFullRing) keeps a narrow gate of its own.
        if hot.hasSpilled(lane) || !cnv_slot_ring_push_record(hot.rings[lane], record) {
            if !hot.hasSpilled(lane), cnv_slot_ring_is_closed(hot.rings[lane]) { throw ConveyorError.shutDown }
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
    /// 20 µs growing to 1 ms, until there is room or the timeout passed. Nothing is held
    /// between tries (no slot, no gate), so a shutdown never waits for a blocked submitter; its
    /// next try finds the ring closed and throws ``ConveyorError/shutDown``.
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
    ///
    /// The overflow push is the one place that keeps a submission gate (a narrow one, entered
    /// only here, off the per-task path): the overflow queue has no CLOSED bit, and a push
    /// cannot be taken back, so a shutdown must be able to wait for pushes under way before it
    /// sweeps the queues. Entering costs `sched_getcpu` and two locked increments, next to a
    /// record and a queue node this path allocates anyway.
    func placeAfterFullRing(
        _ record: UnsafeMutablePointer<cnv_task_record>, lane: Int, group: GroupRuntime, hot: GroupHotPath
    ) throws {
        guard case .spill(let limit) = group.configuration.overflow, let overflow = group.lanes[lane].overflow else {
            throw ConveyorError.queueFull(group: group.name, capacity: group.configuration.capacity, exhausted: .ring(level: lane))
        }
        // While older tasks of this lane sit in the overflow queue, newer ones follow them there.
        if !hot.hasSpilled(lane) {
            if cnv_slot_ring_push_record(hot.rings[lane], record) { return }
            if cnv_slot_ring_is_closed(hot.rings[lane]) { throw ConveyorError.shutDown }
        }
        // Inside the gate: shutdown closes it and waits for us before it sweeps the overflow
        // queues; a closed gate refuses the push.
        let shard = cnv_gate_enter(self.gate)
        guard shard >= 0 else { throw ConveyorError.shutDown }
        defer { cnv_gate_leave(self.gate, shard) }
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
