import BenchSupport
import Conveyor
import Foundation
import Logging
import Synchronization

/// Runs a compressed day of mixed load through a ``Conveyor`` and samples memory, to show that
/// nothing leaks: `make soak DURATION=10m`, `conveyor-soak`, and a ≤ 30 s test use it.
///
/// ```swift
/// let soak = try SoakRunner(configuration: .init(duration: .seconds(60), sampleInterval: .seconds(1)))
/// let report = try await soak.run()
/// print(report.summary)
/// if let growth = report.allocatedGrowth, growth.percent > 1 { print("possible leak") }
/// ```
///
/// The load: four groups (`cpu` with two workers; `io`, elastic 1…3 workers with a spilling
/// overflow queue, resized by hand every few hours; `batch`, one worker, rejecting when full;
/// `scaled`, 1…3 workers sized by a ``PredictiveScaler`` in active mode), all three
/// priorities, typed tasks submitted one by one and in bulk, closure tasks (some cancelled),
/// awaited `run` tasks, a kind that throws, a batch kind (``Conveyor/registerBatch(_:payload:options:groupBy:handler:)``,
/// two keys) on the scaled group, a cached kind (``Conveyor/cached(_:in:_:)`` over a
/// bounded ``ResultCache`` whose key space is four times its capacity, so hits, misses and
/// evictions go on all day), timing on, a ``PerformanceProfiler`` attached throughout
/// (per-kind counting, a profiled context in the "hash" handler, the cache's hit and miss
/// contexts, live ``PerformanceProfiler/metrics()`` at every sample), an ``ObjectPool`` of
/// scratch buffers and a ``RecordPool`` of records. A warm-up at full load with a memory burst brings every cache
/// to its working set; then 24 compressed hours follow the levels of a day: a quiet night
/// (two hours fully idle), a morning ramp, three peaks whose handlers also retain records (a
/// burst of pool memory), and a wind-down. Each hour ends with a quiet period in which the
/// producers pause, the queues drain, burst records are freed and a *checkpoint* is sampled.
final class SoakRunner: Sendable {
    /// How long and how a soak runs.
    struct Configuration: Sendable {
        /// Total time, warm-up included (at least 2 s).
        var duration: Duration
        /// Time between memory samples during the active part of each hour.
        var sampleInterval: Duration
        /// Share of `duration` spent warming up at full load (0.05 … 0.8).
        var warmUpFraction: Double
        /// Producer threads (1 … 16).
        var producers: Int
        /// Records a burst keeps at once (64 bytes each).
        var burstRecords: Int
        /// Scales every hour's load level (0.01 … 1): below 1 the producers leave CPU time to
        /// the rest of the process (the CI test shares the machine with timing-sensitive tests).
        var loadFactor: Double
        /// Called with every sample as it is taken (for progress output).
        var onSample: (@Sendable (SoakReport.Sample) -> Void)?

        init(
            duration: Duration,
            sampleInterval: Duration = .seconds(1),
            warmUpFraction: Double = 0.2,
            producers: Int = 2,
            burstRecords: Int = 100_000,
            loadFactor: Double = 1,
            onSample: (@Sendable (SoakReport.Sample) -> Void)? = nil
        ) {
            self.duration = duration
            self.sampleInterval = sampleInterval
            self.warmUpFraction = warmUpFraction
            self.producers = producers
            self.burstRecords = burstRecords
            self.loadFactor = loadFactor
            self.onSample = onSample
        }
    }

    let configuration: Configuration

    /// - Throws: ``ConveyorError/invalidConfiguration(reason:)`` for values out of range.
    init(configuration: Configuration) throws {
        guard configuration.duration >= .seconds(2) else {
            throw ConveyorError.invalidConfiguration(reason: "soak duration \(configuration.duration) is too short; use at least 2 s")
        }
        guard configuration.sampleInterval >= .milliseconds(10) else {
            throw ConveyorError.invalidConfiguration(reason: "soak sampleInterval must be at least 10 ms")
        }
        guard configuration.warmUpFraction >= 0.05, configuration.warmUpFraction <= 0.8 else {
            throw ConveyorError.invalidConfiguration(reason: "soak warmUpFraction must be from 0.05 to 0.8")
        }
        guard (1...16).contains(configuration.producers) else {
            throw ConveyorError.invalidConfiguration(reason: "soak producers must be from 1 to 16")
        }
        guard (1...(1 << 22)).contains(configuration.burstRecords) else {
            throw ConveyorError.invalidConfiguration(reason: "soak burstRecords must be from 1 to 4194304")
        }
        guard configuration.loadFactor >= 0.01, configuration.loadFactor <= 1 else {
            throw ConveyorError.invalidConfiguration(reason: "soak loadFactor must be from 0.01 to 1")
        }
        self.configuration = configuration
    }

    /// Runs the soak and returns its report.
    /// - Throws: the errors of creating the Conveyor and the pools.
    func run() async throws -> SoakReport {
        let state = SoakState()
        let heapProfile = SoakHeapProfile.fromEnvironment()
        let optimizer = MemoryOptimizer()
        let records = try optimizer.createPool(objectSize: MemoryLayout<SoakRecord>.stride)
        let scratch = try optimizer.createPool(
            capacity: 64, make: { SoakScratch() },
            reset: { scratch in
                scratch.bytes.removeAll(keepingCapacity: true)
                scratch.uses += 1
            })
        var retentionSlots = 2
        while retentionSlots < self.configuration.burstRecords { retentionSlots *= 2 }
        let retained = try MPMCRing(capacity: retentionSlots)

        var logger = Logger(label: "conveyor.soak")
        logger.logLevel = .warning
        let conveyor = try Conveyor(configuration: .init(
            groups: [
                ResourceGroup("cpu", minWorkers: 2),
                ResourceGroup("io", minWorkers: 1, maxWorkers: 3, initialWorkers: 1, overflow: .spill(memoryLimit: 8 << 20)),
                ResourceGroup("batch", minWorkers: 1, capacity: 1024),
                ResourceGroup("scaled", minWorkers: 1, maxWorkers: 3, initialWorkers: 1),
            ],
            timing: true,
            onFailure: { _ in state.failed.add(1, ordering: .relaxed) },
            failureBufferSize: 64,
            logger: logger))

        // Profiling on, as in production: per-kind counting on every worker, a profiled
        // context in one handler, live metrics read at every sample, a report at the end.
        let profiler = try PerformanceProfiler(conveyor: conveyor)
        profiler.startProfiling()

        let hash = try conveyor.register("hash", payload: SoakPayload.self) { payload in
            profiler.profile(context: "soak.hash") { Self.hash(payload, scratch: scratch, state: state) }
        }
        let record = try conveyor.register("record", payload: SoakPayload.self) { payload in
            let seed = payload.seed
            let pointer = try records.allocate(
                SoakRecord(id: seed, values: (seed, seed &+ 1, seed &+ 2, seed &+ 3, seed &+ 4, seed &+ 5, seed &+ 6)))
            pointer.pointee.values.6 ^= pointer.pointee.values.0
            if state.retaining.load(ordering: .relaxed), retained.tryEnqueue(UInt(bitPattern: pointer)) {
                // Kept until the hour's quiet end: a burst of pool memory.
            } else {
                records.deallocate(pointer)
            }
            state.handled.add(1, ordering: .relaxed)
        }
        let flaky = try conveyor.register("flaky", payload: SoakPayload.self) { payload in
            state.handled.add(1, ordering: .relaxed)
            throw SoakFailure(seed: payload.seed)
        }
        // A batch kind on the scaled group: two keys, so two accumulators fill and flush.
        let ingest = try conveyor.registerBatch(
            "ingest", payload: SoakPayload.self,
            options: BatchOptions(maxBatchSize: 32, maxWaitTime: .milliseconds(2), group: "scaled"),
            groupBy: { UInt64($0.flags & 1) }
        ) { rows in
            var digest: UInt64 = 0
            for row in rows { digest = digest &* 31 &+ row.seed }
            state.sink.bitwiseXor(digest, ordering: .relaxed)
            state.batches.add(1, ordering: .relaxed)
            state.handled.add(rows.count, ordering: .relaxed)
        }
        // A cached kind: lookups from Swift concurrency, computed on the cpu group on a miss.
        let cache = try ResultCache<UInt64, UInt64>(
            maxEntries: SoakRunner.cacheEntries, maxBytes: SoakRunner.cacheEntries * 16, profiler: profiler,
            name: "soak.cache", size: { _ in 16 })
        let lookup = conveyor.cached(QueueTask(kind: "lookup", group: "cpu"), in: cache) { key in
            var value = key
            for _ in 0..<64 { value = value &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407 }
            return value
        }
        // The scaler sizes the scaled group from its forecast, on an interval that fits a
        // compressed hour (≈ 20 decisions an hour), and its decisions are read as they come.
        var scaling = GroupScaling(group: "scaled", minWorkers: 1, maxWorkers: 3)
        scaling.interval = min(.seconds(2), max(.milliseconds(100), (self.configuration.duration * 0.8) / 24 / 20))
        scaling.latencyTarget = .milliseconds(5)
        scaling.assumedServiceTime = .microseconds(20)
        let scaler = try PredictiveScaler(conveyor: conveyor, groups: [scaling], logger: logger)
        let scalerLoop = Task { await scaler.run() }
        let decisionReader = Task {
            for await decision in scaler.decisions where decision.applied {
                state.scalerApplied.add(1, ordering: .relaxed)
            }
        }

        // Producers: OS threads, so pacing sleeps never block the cooperative pool.
        let producersDone = DispatchGroup()
        for index in 0..<self.configuration.producers {
            producersDone.enter()
            let thread = Thread {
                Self.produce(index: index, conveyor: conveyor, state: state, hash: hash, record: record, flaky: flaky, ingest: ingest)
                producersDone.leave()
            }
            thread.name = "conveyor-soak-\(index)"
            thread.start()
        }
        // Awaited tasks from Swift concurrency.
        let awaiting = Task {
            var round: UInt64 = 0
            while !state.stopping.load(ordering: .relaxed) {
                if state.level.load(ordering: .relaxed) > 0 {
                    round &+= 1
                    let input = round
                    if let result = try? await conveyor.run(QueueTask(kind: "sum", priority: .high, group: "cpu"), { input &* 3 }) {
                        state.sink.bitwiseXor(result.value, ordering: .relaxed)
                        state.awaited.add(1, ordering: .relaxed)
                    }
                    // Eight cache lookups per round over a key space 4× the capacity
                    // (a skewed mix: half the lookups go to an eighth of the keys).
                    for step in 0..<UInt64(8) {
                        let mixed = (round &* 0x9E37_79B9_7F4A_7C15 &+ step &* 0xBF58_476D_1CE4_E5B9) >> 20
                        let space = UInt64(SoakRunner.cacheEntries * 4)
                        let key = step % 2 == 0 ? mixed % (space / 8) : mixed % space
                        if let value = try? await lookup(key) {
                            state.sink.bitwiseXor(value, ordering: .relaxed)
                            state.lookups.add(1, ordering: .relaxed)
                        }
                    }
                }
                try? await Task.sleep(for: .milliseconds(1))
            }
        }

        let clock = ContinuousClock()
        let start = clock.now
        // Reserved up front: a growing array would double its buffer mid-run (2,048 → 4,096
        // samples of ~128 bytes in a 1 h run) and show as heap growth of the soak's own making.
        var samples: [SoakReport.Sample] = []
        samples.reserveCapacity(Int(self.configuration.duration / self.configuration.sampleInterval) + SoakSchedule.levels.count * 2 + 64)
        let warmUp = self.configuration.duration * self.configuration.warmUpFraction
        let hourLength = (self.configuration.duration - warmUp) / SoakSchedule.levels.count
        let activeLength = hourLength * 0.85

        func sample(_ phase: String, checkpoint: Bool, afterWarmUp: Bool) {
            _ = profiler.metrics()  // merges the engine's recorders and the profiled context
            let memory = MemoryMetrics.process()
            let value = SoakReport.Sample(
                elapsed: start.duration(to: clock.now), phase: phase, isCheckpoint: checkpoint,
                afterWarmUp: afterWarmUp, level: Double(state.level.load(ordering: .relaxed)) / 1000,
                tasksCompleted: state.handled.load(ordering: .relaxed) + state.awaited.load(ordering: .relaxed),
                heapAllocated: memory.heapAllocated, heapInThreadCaches: memory.heapInThreadCaches,
                heapResident: memory.heapResident,
                residentSetSize: memory.residentSetSize, poolBytes: records.statistics.bytesReserved,
                slabBytesReserved: memory.slabBytesReserved, slabBytesFreeInHeap: memory.slabBytesFreeInHeap)
            samples.append(value)
            self.configuration.onSample?(value)
        }

        /// Runs `length` at `level`, sampling every interval.
        func active(_ phase: String, level: Int, burst: Bool, length: Duration, afterWarmUp: Bool) async {
            state.retaining.store(burst, ordering: .relaxed)
            state.level.store(max(1, Int(Double(level) * self.configuration.loadFactor)), ordering: .relaxed)
            let end = clock.now + length
            while clock.now < end {
                let next = min(end, clock.now + self.configuration.sampleInterval)
                try? await Task.sleep(until: next, clock: clock)
                if clock.now < end || level > 0 { sample(phase, checkpoint: false, afterWarmUp: afterWarmUp) }
            }
        }

        /// Pauses the producers, waits for the queues to drain, frees burst records, samples.
        func quiet(_ phase: String, until end: ContinuousClock.Instant, afterWarmUp: Bool) async {
            state.level.store(0, ordering: .relaxed)
            state.retaining.store(false, ordering: .relaxed)
            let drainLimit = clock.now + .seconds(30)
            while !state.isDrained, clock.now < drainLimit {
                try? await Task.sleep(for: .milliseconds(1))
            }
            // Idle long enough for every worker's park to time out once (1 s): an idle worker
            // then hands the free records cached in its slab magazines back to the depots
            // (Conveyor+Workers.swift), and only then can their slabs be released. Shorter
            // when the quiet period is (soaks of less than ~3 min).
            let idleUntil = min(clock.now + .milliseconds(1_200), end - .milliseconds(50))
            if clock.now < idleUntil { try? await Task.sleep(until: idleUntil, clock: clock) }
            // No suspension from here to the sample: the burst's records are freed into this
            // thread's magazines, and `releaseMemory` flushes the calling thread's.
            while let bits = retained.tryDequeue() {
                records.deallocate(UnsafeMutablePointer<SoakRecord>(bitPattern: bits)!)
            }
            // What a service does in its quiet periods: give free slabs and allocator pages
            // back. Without it a new highest burst leaves free slab capacity behind that the
            // heap figure counts as growth although nothing holds it.
            _ = optimizer.releaseMemory()
            sample(phase, checkpoint: true, afterWarmUp: afterWarmUp)
            heapProfile?.dump(phase: phase)
            if clock.now < end { try? await Task.sleep(until: end, clock: clock) }
        }

        // Warm-up: full load, a burst in its middle third, and the io group at its largest
        // size once: the first thread of a kind costs one-time memory (jemalloc arena
        // binding, runtime metadata) that would otherwise show up as growth in hour 1.
        await active("warm-up", level: 1000, burst: false, length: warmUp / 3, afterWarmUp: false)
        try? await conveyor.resize(group: "io", workers: 3)
        await active("warm-up", level: 1000, burst: true, length: warmUp / 3, afterWarmUp: false)
        try? await conveyor.resize(group: "io", workers: 1)
        // The batch kind's chunks at their bound, once: a chunk is never freed (tickets name
        // its slots), so the kind keeps as many as were ever in flight at once, up to a full
        // ring of flush tokens in its group. A day's peak that backs the scaled group up
        // further than any hour before would otherwise add them as a step (+1.0 MiB at hour 9
        // of a 5 min soak, jemalloc heap profile, docs/Reliability.md).
        Self.fillBatchKind(conveyor: conveyor, ingest: ingest, state: state)
        await active("warm-up", level: 1000, burst: false, length: warmUp / 6, afterWarmUp: false)
        await quiet("warm-up", until: start + warmUp, afterWarmUp: false)
        let warmUpEnd = start.duration(to: clock.now)

        for (hour, level) in SoakSchedule.levels.enumerated() {
            let hourStart = start + warmUp + hourLength * hour
            let phase = "hour \(hour)"
            if level > 0 {
                await active(phase, level: level, burst: SoakSchedule.burstHours.contains(hour),
                             length: max(.zero, hourStart + activeLength - clock.now), afterWarmUp: true)
            }
            await quiet(phase, until: hourStart + hourLength, afterWarmUp: true)
            if let workers = SoakSchedule.ioWorkers(afterHour: hour) {
                try? await conveyor.resize(group: "io", workers: workers)
            }
        }

        state.stopping.store(true, ordering: .relaxed)
        await awaiting.value
        scalerLoop.cancel()
        await scalerLoop.value
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            producersDone.notify(queue: .global()) { done.resume() }
        }
        await conveyor.shutdown(drain: true)
        decisionReader.cancel()
        await decisionReader.value
        while let bits = retained.tryDequeue() {
            records.deallocate(UnsafeMutablePointer<SoakRecord>(bitPattern: bits)!)
        }

        let profile = try? profiler.stopProfiling()
        let objectStatistics = scratch.statistics
        let recordStatistics = records.statistics
        let cacheStatistics = cache.statistics
        return SoakReport(
            duration: start.duration(to: clock.now), warmUpEnd: warmUpEnd, samples: samples,
            heapSource: MemoryMetrics.process().heapSource,
            tasksSubmitted: state.accepted.load(ordering: .relaxed),
            tasksCompleted: state.handled.load(ordering: .relaxed),
            tasksAwaited: state.awaited.load(ordering: .relaxed),
            tasksCancelled: state.cancelled.load(ordering: .relaxed),
            tasksFailed: state.failed.load(ordering: .relaxed),
            submitsRejected: state.rejected.load(ordering: .relaxed),
            objectPoolHits: objectStatistics.hits, objectPoolMisses: objectStatistics.misses,
            objectPoolDrops: objectStatistics.drops,
            recordPoolHits: recordStatistics.hits, recordPoolMisses: recordStatistics.misses,
            profiledCalls: Int(profile?.metrics.contexts.first { $0.context == "soak.hash" }?.calls ?? 0),
            cacheHits: Int(cacheStatistics.hits), cacheMisses: Int(cacheStatistics.misses),
            cacheEvictions: Int(cacheStatistics.evictions), cacheLookups: state.lookups.load(ordering: .relaxed),
            batchCalls: state.batches.load(ordering: .relaxed),
            scalerDecisionsApplied: state.scalerApplied.load(ordering: .relaxed))
    }

    /// Holds every worker of the scaled group and submits batch-kind tasks until the group
    /// refuses them (its ring full of flush tokens, the next chunk parked), then lets the
    /// workers go: the batch kind's chunks reach the most the group can hold in flight.
    static func fillBatchKind(conveyor: Conveyor, ingest: BatchKind<SoakPayload, Void>, state: SoakState) {
        let hold = DispatchSemaphore(value: 0)
        let maxWorkers = 3
        for _ in 0..<maxWorkers {
            // High priority: a worker the scaler starts meanwhile takes a blocker first.
            let task = QueueTask(kind: "hold", priority: .high, group: "scaled")
            if (try? conveyor.submit(task, {
                hold.wait()
                state.handled.add(1, ordering: .relaxed)
            })) != nil {
                state.accepted.add(1, ordering: .relaxed)
            }
        }
        var refusedInARow = 0
        var seed: UInt64 = 1 << 63
        // At most a ring of 64 Ki tokens of 32 tasks (the default ring is 4,096 slots).
        for _ in 0..<(1 << 21) where refusedInARow < 64 {
            seed &+= 1
            if (try? conveyor.submit(ingest, SoakPayload(seed: seed, length: 0, flags: UInt32(seed & 1)))) != nil {
                state.accepted.add(1, ordering: .relaxed)
                refusedInARow = 0
            } else {
                state.rejected.add(1, ordering: .relaxed)
                refusedInARow += 1
            }
        }
        for _ in 0..<maxWorkers { hold.signal() }
    }

    /// Entries the soak's result cache holds at most.
    static let cacheEntries = 4096

    /// The "hash" kind's work: fills a pooled scratch buffer and folds it into the sink.
    static func hash(_ payload: SoakPayload, scratch: ObjectPool<SoakScratch>, state: SoakState) {
        let buffer = scratch.acquire()
        var value = payload.seed
        for _ in 0..<Int(payload.length) {
            value = value &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            buffer.bytes.append(UInt8(truncatingIfNeeded: value >> 56))
        }
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in buffer.bytes { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
        scratch.release(buffer)
        state.sink.bitwiseXor(digest, ordering: .relaxed)
        state.handled.add(1, ordering: .relaxed)
    }

    /// One producer: mixed chunks paced to the current level until stopped.
    static func produce(
        index: Int, conveyor: Conveyor, state: SoakState,
        hash: TaskKind<SoakPayload>, record: TaskKind<SoakPayload>, flaky: TaskKind<SoakPayload>,
        ingest: BatchKind<SoakPayload, Void>
    ) {
        let priorities: [QueueTask.Priority] = [.high, .normal, .low]
        var bulk = [SoakPayload](repeating: SoakPayload(seed: 0, length: 0, flags: 0), count: 16)
        var chunk: UInt64 = 0
        let clock = ContinuousClock()
        var flushedWhileIdle = true
        while !state.stopping.load(ordering: .relaxed) {
            let level = state.level.load(ordering: .relaxed)
            guard level > 0 else {
                // Going idle: hand this thread's cached free records (engine records, queue
                // nodes) back, so the quiet period's releaseMemory can return their slabs.
                if !flushedWhileIdle {
                    MemoryOptimizer.flushThreadCaches()
                    flushedWhileIdle = true
                }
                usleep(500)
                continue
            }
            flushedWhileIdle = false
            let began = clock.now
            chunk &+= 1
            let seed = UInt64(index) << 48 | chunk << 8
            let priority = priorities[Int(chunk % 3)]
            var refused = false

            // 16 typed tasks in one bulk submit to cpu.
            for slot in bulk.indices {
                bulk[slot] = SoakPayload(seed: seed | UInt64(slot), length: UInt32(32 + (slot * 29) % 224), flags: 0)
            }
            if let accepted = try? conveyor.submit(hash, contentsOf: bulk, QueueTask(kind: "hash", priority: priority, group: "cpu")) {
                state.accepted.add(accepted, ordering: .relaxed)
                if accepted < bulk.count {
                    state.rejected.add(bulk.count - accepted, ordering: .relaxed)
                    refused = true
                }
            }
            // 16 typed tasks one by one to the rejecting batch group (the record pool).
            for slot in 0..<16 {
                let task = QueueTask(kind: "record", priority: priorities[slot % 3], group: "batch")
                if (try? conveyor.submit(record, SoakPayload(seed: seed | UInt64(slot), length: 0, flags: 1), task)) != nil {
                    state.accepted.add(1, ordering: .relaxed)
                } else {
                    state.rejected.add(1, ordering: .relaxed)
                    refused = true
                    break
                }
            }
            // 4 closure tasks to the spilling io group; one in 16 chunks cancels one.
            for slot in 0..<4 {
                let words = [seed, UInt64(slot), chunk]
                let task = QueueTask(kind: "closure", priority: priorities[(slot + Int(chunk)) % 3], group: "io")
                let body: @Sendable () throws -> Void = {
                    state.sink.bitwiseXor(words.reduce(0, &+), ordering: .relaxed)
                    state.handled.add(1, ordering: .relaxed)
                }
                guard let ticket = try? conveyor.submit(task, body) else {
                    state.rejected.add(1, ordering: .relaxed)
                    refused = true
                    break
                }
                state.accepted.add(1, ordering: .relaxed)
                if slot == 3, chunk % 16 == 0, conveyor.cancel(ticket) {
                    state.cancelled.add(1, ordering: .relaxed)
                }
            }
            // 8 tasks of the batch kind (two keys) to the scaled group.
            for slot in 0..<8 {
                if (try? conveyor.submit(ingest, SoakPayload(seed: seed | UInt64(slot), length: 0, flags: UInt32(slot & 1)))) != nil {
                    state.accepted.add(1, ordering: .relaxed)
                } else {
                    state.rejected.add(1, ordering: .relaxed)
                    refused = true
                    break
                }
            }
            // A task that throws, one chunk in 8.
            if chunk % 8 == 0 {
                if (try? conveyor.submit(flaky, SoakPayload(seed: seed, length: 0, flags: 2), QueueTask(kind: "flaky", group: "cpu"))) != nil {
                    state.accepted.add(1, ordering: .relaxed)
                }
            }

            if refused { usleep(200) }
            if level < 1000 {
                let spent = began.duration(to: clock.now)
                let pause = min(spent * (Double(1000 - level) / Double(level)), .milliseconds(50))
                let microseconds = pause.components.seconds * 1_000_000 + pause.components.attoseconds / 1_000_000_000_000
                if microseconds > 0 { usleep(UInt32(microseconds)) }
            }
        }
    }
}

// MARK: What the soak's kinds and pools carry

/// The inline payload of the soak's typed kinds.
struct SoakPayload: BitwiseCopyable, Sendable {
    var seed: UInt64
    var length: UInt32
    var flags: UInt32
}

/// A 64-byte record the soak's handlers take from its ``RecordPool``.
struct SoakRecord: BitwiseCopyable {
    var id: UInt64
    var values: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
}

/// The reusable object of a soak's ``ObjectPool``: a scratch buffer a handler fills and hashes.
final class SoakScratch {
    var bytes: [UInt8] = []
    var uses = 0

    init() {
        self.bytes.reserveCapacity(512)
    }
}

/// The error the soak's "flaky" kind throws on purpose, to exercise failure reporting.
struct SoakFailure: Error {
    var seed: UInt64
}
