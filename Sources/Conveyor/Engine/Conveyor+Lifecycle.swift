import CConveyor
import Foundation

extension Conveyor {
    /// Stops the Conveyor. It first stops accepting tasks (submits throw
    /// ``ConveyorError/shutDown``) and waits for submits already under way to finish
    /// queueing. Then:
    /// - `drain: true` runs every accepted task, then joins the workers;
    /// - `drain: false` lets running handlers finish, joins the workers, and fails every task
    ///   that had not started with ``ConveyorError/notStarted(kind:)``: `run` callers get it
    ///   thrown, everyone else through ``failures`` and `onFailure`. None is lost.
    ///
    /// Calling it again (or concurrently) waits for the first shutdown to finish.
    public func shutdown(drain: Bool = true) async {
        guard self.lifecycle.compareExchange(
            expected: Lifecycle.running.rawValue, desired: Lifecycle.shuttingDown.rawValue, ordering: .acquiringAndReleasing
        ).exchanged else {
            await self.waitUntilStopped()
            return
        }
        let gate = UInt(bitPattern: self.gate)
        let rings = self.groups.flatMap { group in group.lanes.map { UInt(bitPattern: $0.ring.ring) } }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // Brief (submits finish queueing in microseconds) but blocking: keep it off the
            // cooperative pool.
            DispatchQueue.global().async {
                // 1. Stop accepting: `isAccepting` turns false, batch appends and overflow
                // pushes are refused, and we wait for overflow pushes under way (the narrow
                // gate, see placeAfterFullRing).
                cnv_gate_close_and_wait(OpaquePointer(bitPattern: gate))
                // 2. Close every ring (the CLOSED bit refuses all later claims), then wait
                // until every slot claimed before that is published. Submits hold no gate on
                // this path: this replaces the per-task gate (issue 10, docs/Engine.md).
                let closed = rings.map { cnv_slot_ring_close(OpaquePointer(bitPattern: $0)) }
                for (ring, tail) in zip(rings, closed) {
                    _ = cnv_slot_ring_wait_published(OpaquePointer(bitPattern: ring), tail)
                }
                continuation.resume()
            }
        }
        // Async tasks end off the workers and may pass their slot to a parked task that needs
        // a worker: let them all end while the workers still run.
        if drain { await self.waitForAsyncTasks() }
        // From here on, jobs for the groups' executors go to the global concurrent executor;
        // those queued before are run by the workers or the sweep below.
        for group in self.groups { await group.admission.closeJobs() }
        let mode: GroupRuntime.Mode = drain ? .draining : .stopping
        for group in self.groups {
            group.mode.store(mode.rawValue, ordering: .releasing)
            group.parker.unparkAll()
        }
        for group in self.groups {
            await group.waitForWorkersToExit()
        }
        for group in self.groups {
            self.sweep(group, run: drain)
        }
        self.settlePendingBatches(run: drain)  // batching hook: flush or fail what accumulators hold
        // Not draining: async tasks waiting for a slot fail as not started; those running end
        // (one that passes its slot on meanwhile may queue a parked task again: sweep again).
        var delay: UInt64 = 50_000
        while true {
            for group in self.groups {
                for address in group.admission.takeParked() { self.failParked(address, group: group) }
                if !drain { self.sweep(group, run: false) }
            }
            if self.groups.allSatisfy({ $0.admission.inFlight == 0 }) { break }
            try? await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 2_000_000)
        }
        self.configuration.logger.debug(
            "conveyor stopped",
            metadata: [
                "drain": "\(drain)", "notStarted": "\(self.notStarted.load(ordering: .relaxed))",
            ])
        self.deadlines.stop()  // every task is settled: no timer can matter any more
        self.lifecycle.store(Lifecycle.stopped.rawValue, ordering: .releasing)
        self.failureSink.finish()
        let waiters = self.stopWaiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the Conveyor has shut down.
    public func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = self.stopWaiters.withLock { waiters in
                if self.lifecycle.load(ordering: .acquiring) == Lifecycle.stopped.rawValue { return true }
                waiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() }
        }
    }

    /// Whether the Conveyor still accepts tasks.
    public var isAccepting: Bool { cnv_gate_is_open(self.gate) }

    /// Settles every task still queued in `group` after its workers exited: runs them
    /// (`run: true`, the drain case, where normally none is left) or fails them as not started.
    private func sweep(_ group: GroupRuntime, run: Bool) {
        guard let recorder = try? group.recorders.makeRecorder() else { return }
        let worker = WorkerState(recorder: recorder)
        defer { self.publishSamples(worker) }
        var buffer = [UInt](repeating: 0, count: 64)
        while true {
            let taken = buffer.withUnsafeMutableBufferPointer { batch -> Int in
                if let handed = try? group.handoff.drain(into: batch), handed > 0 { return handed }
                for lane in group.lanes.indices {
                    let taken = self.take(lane: lane, of: group, workers: 1, into: batch)
                    if taken > 0 { return taken }
                }
                return 0
            }
            if taken == 0 { return }
            for address in buffer[0..<taken] {
                // Batch tasks go through execute either way: the batching hook fails them when stopping.
                if run || Self.isBatchRecord(address) {
                    self.execute(address, group: group, worker: worker)
                } else {
                    self.failUnstarted(address, group: group, worker: worker)
                }
            }
        }
    }

    func failUnstarted(_ address: UInt, group: GroupRuntime, worker: WorkerState) {
        let record = UnsafeMutablePointer<cnv_task_record>(bitPattern: address)!
        let state = cnv_task_state_word(record)
        let queued = state & CNV_TASK_STATE_MASK == UInt64(CNV_TASK_QUEUED.rawValue)
        // A job of a group's executor continues a Swift task that already started: run it.
        guard queued, record.pointee.handler != ExecutorJobHandler.shared.opaque, cnv_task_transition(record, state, CNV_TASK_CANCELLED) else {
            // Already cancelled or expired: settle it as a worker would.
            self.execute(address, group: group, worker: worker)
            return
        }
        let handler = Unmanaged<TaskHandler>.fromOpaque(record.pointee.handler!)
        let task = handler.takeUnretainedValue()
        let kind = task.kindPerTask ? task.kindName(record) : task.kind
        task.dispose(record)
        self.releaseAsyncSlot(record, group: group)
        self.notStarted.add(1, ordering: .relaxed)
        if !task.abandon(.notStarted(kind: kind)) {
            self.report(TaskFailure(kind: kind, group: group.name, error: ConveyorError.notStarted(kind: kind)))
        }
        if record.pointee.flags & UInt16(CNV_TASK_FLAG_RETAINED) != 0 { handler.release() }
        self.finish(record, group: group)
    }

    // MARK: Resizing

    /// Changes a group's worker count at run time, within its configured range. Growing
    /// starts threads at once; shrinking lets each retiring worker finish the handler it is
    /// running (its other taken tasks go back to the group) and returns once they exited, so
    /// from then on at most `workers` of the group's tasks run at once.
    public func resize(group name: String, workers: Int) async throws {
        guard let position = self.groupIndex[name] else { throw ConveyorError.unknownGroup(name: name) }
        let group = self.groups[position]
        let allowed = group.configuration.minWorkers...group.configuration.maxWorkers
        guard allowed.contains(workers) else {
            throw ConveyorError.invalidConfiguration(
                reason: "group \"\(name)\" allows \(allowed) workers; \(workers) is outside")
        }
        await group.serializeResizes {
            guard self.lifecycle.load(ordering: .acquiring) == Lifecycle.running.rawValue else { return }
            group.targetWorkers.store(workers, ordering: .releasing)
            group.parker.unparkAll()
            await group.waitForWorkers(atMost: workers)
            group.startWorkers(upTo: workers, engine: self)
            self.configuration.logger.debug("group resized", metadata: ["group": "\(name)", "workers": "\(workers)"])
        }
        guard self.lifecycle.load(ordering: .acquiring) == Lifecycle.running.rawValue else {
            throw ConveyorError.shutDown
        }
    }
}
