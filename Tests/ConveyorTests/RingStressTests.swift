import Conveyor
import Synchronization
import Testing

/// Every item is recorded in a per-consumer seen bitmap; after the run each item must have
/// been seen exactly once, and each consumer must have seen each producer's items in order.
@Suite("Ring stress", .serialized)
struct RingStressTests {
    /// Producer `p` sends indices p*perProducer ..< (p+1)*perProducer, mixing single and bulk ops.
    static func produce(
        producer: Int, perProducer: Int, seed: UInt64, watchdog: StallWatchdog,
        send: (UnsafeBufferPointer<UInt>) -> Int
    ) {
        var random = SplitMix64(state: seed)
        var buffer = [UInt](repeating: 0, count: 32)
        var nextIndex = producer * perProducer
        let end = nextIndex + perProducer
        var spin = SpinWait()
        while nextIndex < end {
            let want = min(end - nextIndex, Bool.random(using: &random) ? 1 : Int.random(in: 2...32, using: &random))
            for offset in 0..<want { buffer[offset] = UInt(nextIndex + offset) }
            let sent = buffer.withUnsafeBufferPointer { send(.init(rebasing: $0[0..<want])) }
            if sent == 0 {
                if !spin.failed(watchdog) { return }
            } else {
                spin.progressed()
            }
            nextIndex += sent
        }
    }

    /// Drains until `total` items were taken by all consumers together.
    static func consume(
        seen: SeenBitmap, orderViolations: SharedCounter, taken: SharedCounter, total: Int,
        producers: Int, perProducer: Int, seed: UInt64, watchdog: StallWatchdog,
        receive: (UnsafeMutableBufferPointer<UInt>) -> Int
    ) {
        var random = SplitMix64(state: seed)
        var lastIndex = [Int](repeating: -1, count: producers)
        var buffer = [UInt](repeating: 0, count: 32)
        var spin = SpinWait()
        while taken.current < total {
            let want = Bool.random(using: &random) ? 1 : Int.random(in: 2...32, using: &random)
            let got = buffer.withUnsafeMutableBufferPointer { receive(.init(rebasing: $0[0..<want])) }
            if got == 0 {
                if !spin.failed(watchdog) { return }
                continue
            }
            spin.progressed()
            for slot in 0..<got {
                let index = Int(buffer[slot])
                guard index < total else {
                    orderViolations.add(1)
                    continue
                }
                seen.insert(index)
                let producer = index / perProducer
                if index <= lastIndex[producer] { orderViolations.add(1) }
                lastIndex[producer] = index
            }
            taken.add(got)
        }
    }

    @Test("MPMC ring: 4 producers × 2 consumers, every item exactly once, FIFO per producer")
    func mpmcExactlyOnce() throws {
        let producers = 4
        let consumers = 2
        let perProducer = StressScale.scaled(2_500_000) // 10 million items at scale 1
        let total = producers * perProducer
        let ring = try MPMCRing(capacity: 1024)
        let maps = (0..<consumers).map { _ in SeenBitmap(bitCount: total) }
        let violations = SharedCounter()
        let taken = SharedCounter()
        let watchdog = StallWatchdog()
        runOnThreads(producers + consumers) { thread in
            if thread < producers {
                Self.produce(producer: thread, perProducer: perProducer, seed: UInt64(thread + 1), watchdog: watchdog) {
                    ring.enqueue(contentsOf: $0)
                }
            } else {
                Self.consume(
                    seen: maps[thread - producers], orderViolations: violations, taken: taken, total: total,
                    producers: producers, perProducer: perProducer, seed: UInt64(thread + 100), watchdog: watchdog
                ) { ring.dequeue(into: $0) }
            }
        }
        let audit = SeenBitmap.audit(maps)
        #expect(!watchdog.hasStopped, "a thread stalled for \(watchdog.limit)")
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(violations.current == 0)
        #expect(taken.current == total)
        #expect(ring.count == 0)
    }

    @Test("MPMC ring: all-or-nothing bulk ops under contention lose nothing")
    func mpmcBulkExactlyOnce() throws {
        let producers = 4
        let perProducer = StressScale.scaled(250_000)
        let total = producers * perProducer
        let ring = try MPMCRing(capacity: 64)
        let maps = (0..<2).map { _ in SeenBitmap(bitCount: total) }
        let violations = SharedCounter()
        let taken = SharedCounter()
        let watchdog = StallWatchdog()
        runOnThreads(producers + 2) { thread in
            if thread < producers {
                Self.produce(producer: thread, perProducer: perProducer, seed: UInt64(thread + 7), watchdog: watchdog) {
                    ring.enqueueAll($0) ? $0.count : 0
                }
            } else {
                // Bulk dequeues of 8 could strand a tail of < 8 items: finish with single ops.
                Self.consume(
                    seen: maps[thread - producers], orderViolations: violations, taken: taken, total: total,
                    producers: producers, perProducer: perProducer, seed: UInt64(thread + 70), watchdog: watchdog
                ) { buffer in
                    let want = min(buffer.count, 8)
                    if ring.dequeueAll(into: .init(rebasing: buffer[0..<want])) { return want }
                    return ring.dequeue(into: .init(rebasing: buffer[0..<1]))
                }
            }
        }
        let audit = SeenBitmap.audit(maps)
        #expect(!watchdog.hasStopped, "a thread stalled for \(watchdog.limit)")
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(violations.current == 0)
    }

    @Test("SPSC ring: 1 producer × 1 consumer, every item exactly once and in order")
    func spscExactlyOnce() throws {
        let total = StressScale.scaled(10_000_000)
        let ring = try SPSCRing(capacity: 512)
        let map = SeenBitmap(bitCount: total)
        let violations = SharedCounter()
        let taken = SharedCounter()
        let watchdog = StallWatchdog()
        runOnThreads(2) { thread in
            if thread == 0 {
                Self.produce(producer: 0, perProducer: total, seed: 3, watchdog: watchdog) { ring.enqueue(contentsOf: $0) }
            } else {
                Self.consume(
                    seen: map, orderViolations: violations, taken: taken, total: total,
                    producers: 1, perProducer: total, seed: 4, watchdog: watchdog
                ) { ring.dequeue(into: $0) }
            }
        }
        let audit = SeenBitmap.audit([map])
        #expect(!watchdog.hasStopped, "a thread stalled for \(watchdog.limit)")
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(violations.current == 0)
    }

    @Test("Overflow queue: 4 producers × 1 drainer, exactly once, FIFO per producer")
    func overflowExactlyOnce() throws {
        let producers = 4
        let perProducer = StressScale.scaled(250_000)
        let total = producers * perProducer
        let queue = try OverflowQueue()
        let map = SeenBitmap(bitCount: total)
        let violations = SharedCounter()
        let taken = SharedCounter()
        let enqueueFailures = SharedCounter()
        let watchdog = StallWatchdog()
        runOnThreads(producers + 1) { thread in
            if thread < producers {
                for index in (thread * perProducer)..<((thread + 1) * perProducer) {
                    do { try queue.enqueue(UInt(index)) } catch { enqueueFailures.add(1) }
                }
            } else {
                Self.consume(
                    seen: map, orderViolations: violations, taken: taken, total: total,
                    producers: producers, perProducer: perProducer, seed: 9, watchdog: watchdog
                ) { buffer in (try? queue.drain(into: buffer)) ?? 0 }
            }
        }
        let audit = SeenBitmap.audit([map])
        #expect(enqueueFailures.current == 0)
        #expect(!watchdog.hasStopped, "a thread stalled for \(watchdog.limit)")
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(violations.current == 0)
        #expect(queue.count == 0)
    }

    @Test("Overflow queue: a second concurrent drainer is told it is busy, and nothing is lost")
    func overflowSingleDrainer() throws {
        let queue = try OverflowQueue()
        let total = StressScale.scaled(200_000)
        for index in 0..<total { try queue.enqueue(UInt(index)) }
        let busy = SharedCounter()
        let taken = SharedCounter()
        let watchdog = StallWatchdog()
        let maps = (0..<2).map { _ in SeenBitmap(bitCount: total) }
        runOnThreads(2) { thread in
            var buffer = [UInt](repeating: 0, count: 16)
            var spin = SpinWait()
            while taken.current < total {
                do {
                    let got = try buffer.withUnsafeMutableBufferPointer { try queue.drain(into: $0) }
                    for slot in 0..<got { maps[thread].insert(Int(buffer[slot])) }
                    taken.add(got)
                    if got == 0, !spin.failed(watchdog) { return }
                } catch ConveyorError.busy {
                    busy.add(1)
                    if !spin.failed(watchdog) { return }
                } catch {
                    Issue.record("unexpected error \(error)")
                    return
                }
            }
        }
        let audit = SeenBitmap.audit(maps)
        #expect(!watchdog.hasStopped, "a thread stalled for \(watchdog.limit)")
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(queue.count == 0)
        #expect(queue.bytesUsed == 0)
    }
}
