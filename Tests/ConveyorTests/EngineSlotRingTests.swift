import CConveyor
@testable import Conveyor
import Testing

/// The slot ring (`cnv_slot_ring.h`) the engine's lanes are moving to: tasks are written into
/// and run from the ring's own slots. The fuzz harness `slot_ring` checks the single-threaded
/// semantics against a model; these tests check it on threads.
@Suite("Engine slot ring", .serialized)
struct EngineSlotRingTests {
    /// Item, mirror and ticket written into a slot's record by its producer.
    static func fill(_ slot: UnsafeMutablePointer<cnv_slot>, item: UInt64) {
        let record = SlotRing.record(slot)
        let ticket = cnv_task_begin(record)
        let payload = cnv_task_payload(record)!
        payload.storeBytes(of: item, toByteOffset: 0, as: UInt64.self)
        payload.storeBytes(of: ticket, toByteOffset: 8, as: UInt64.self)
        payload.storeBytes(of: ~item, toByteOffset: 56, as: UInt64.self)
        record.pointee.submit_ticks = item
    }

    /// Checks a taken slot as a worker would run it; returns the item, or nil when the record
    /// is not what its producer wrote or the worker's QUEUED→RUNNING did not win.
    static func run(_ slot: UnsafeMutablePointer<cnv_slot>) -> UInt64? {
        let record = SlotRing.record(slot)
        let payload = cnv_task_payload(record)!
        let item = payload.load(fromByteOffset: 0, as: UInt64.self)
        let ticket = payload.load(fromByteOffset: 8, as: UInt64.self)
        guard payload.load(fromByteOffset: 56, as: UInt64.self) == ~item, record.pointee.submit_ticks == item,
            cnv_task_transition(record, ticket, CNV_TASK_RUNNING)
        else { return nil }
        return item
    }

    @Test("2 producers × 2 consumers: every item exactly once, in each producer's order, records intact")
    func twoByTwoExactlyOnce() throws {
        let producers = 2
        let consumers = 2
        let perProducer = StressScale.scaled(300_000)
        let total = producers * perProducer
        let ring = try SlotRing(capacity: 256)
        let maps = (0..<consumers).map { _ in SeenBitmap(bitCount: total) }
        let broken = SharedCounter()
        let taken = SharedCounter()
        let watchdog = StallWatchdog()
        runOnThreads(producers + consumers) { thread in
            var random = SplitMix64(state: UInt64(thread) &* 7919 &+ 1)
            var spin = SpinWait()
            if thread < producers {
                var next = thread * perProducer
                let end = next + perProducer
                while next < end {
                    let want = min(end - next, Bool.random(using: &random) ? 1 : Int.random(in: 2...24, using: &random))
                    var claimed = 0
                    if want == 1 {
                        if let slot = ring.claim() {
                            Self.fill(slot, item: UInt64(next))
                            ring.publish(slot)
                            claimed = 1
                        }
                    } else {
                        let burst = ring.claim(upTo: want)
                        claimed = burst.claimed
                        for offset in 0..<claimed {
                            Self.fill(ring.slot(at: burst.first &+ UInt64(offset)), item: UInt64(next + offset))
                        }
                        // Out of order: consumers must still see them in position order.
                        for offset in (0..<claimed).reversed() { ring.publish(ring.slot(at: burst.first &+ UInt64(offset))) }
                    }
                    if claimed == 0 {
                        if !spin.failed(watchdog) { return }
                    } else {
                        spin.progressed()
                    }
                    next += claimed
                }
            } else {
                let seen = maps[thread - producers]
                var last = [Int](repeating: -1, count: producers)
                while taken.current < total {
                    let burst = ring.take(upTo: Int.random(in: 1...16, using: &random))
                    if burst.taken == 0 {
                        if !spin.failed(watchdog) { return }
                        continue
                    }
                    spin.progressed()
                    for offset in 0..<burst.taken {
                        guard let item = Self.run(ring.slot(at: burst.first &+ UInt64(offset))), item < UInt64(total) else {
                            broken.add(1)
                            continue
                        }
                        let index = Int(item)
                        seen.insert(index)
                        if index <= last[index / perProducer] { broken.add(1) }
                        last[index / perProducer] = index
                    }
                    // Released in reverse: a producer a lap later still claims in position order.
                    for offset in (0..<burst.taken).reversed() { ring.release(ring.slot(at: burst.first &+ UInt64(offset))) }
                    taken.add(burst.taken)
                }
            }
        }
        let audit = SeenBitmap.audit(maps)
        #expect(!watchdog.hasStopped, "a thread stalled for \(watchdog.limit)")
        #expect(audit.missing == 0)
        #expect(audit.duplicated == 0)
        #expect(broken.current == 0, "records torn, not startable or out of a producer's order")
        #expect(taken.current == total)
        #expect(ring.count == 0)
    }

    @Test("full at capacity; an unpublished slot holds back the slots after it; release frees in position order")
    func claimPublishTakeRelease() throws {
        let ring = try SlotRing(capacity: 4)
        let slots = (0..<4).compactMap { _ in ring.claim() }
        #expect(slots.count == 4)
        #expect(ring.claim() == nil, "a full ring gave a fifth slot")
        #expect(ring.count == 4)
        for (item, slot) in slots.enumerated() { Self.fill(slot, item: UInt64(item)) }
        // Slot 1..3 published, slot 0 not: a consumer sees nothing yet.
        for slot in slots.dropFirst() { ring.publish(slot) }
        #expect(ring.take() == nil, "took past an unpublished slot")
        ring.publish(slots[0])
        let burst = ring.take(upTo: 8)
        #expect(burst.taken == 4)
        #expect((0..<4).map { Self.run(ring.slot(at: burst.first + UInt64($0))) } == [0, 1, 2, 3])
        // Releasing slot 1 first frees nothing for the producer: the tail is at slot 0's lap.
        ring.release(ring.slot(at: burst.first + 1))
        #expect(ring.claim() == nil)
        ring.release(ring.slot(at: burst.first))
        #expect(ring.claim(upTo: 4).claimed == 2, "slots 0 and 1 free, 2 and 3 still taken")
        #expect(ring.count == 2)
    }

    @Test("a ticket from an earlier lap of a slot never cancels the slot's later task")
    func staleTicket() throws {
        let ring = try SlotRing(capacity: 2)
        // A ticket is a slot address plus a state word: keep each slot's earlier words.
        var tickets: [UnsafeMutablePointer<cnv_slot>: [UInt64]] = [:]
        for lap in 0..<8 {
            let slot = try #require(ring.claim())
            let ticket = cnv_task_begin(SlotRing.record(slot))
            let earlier = tickets[slot, default: []]
            let generation = ticket >> UInt64(CNV_TASK_STATE_BITS)
            #expect(!earlier.contains { $0 >> UInt64(CNV_TASK_STATE_BITS) == generation }, "generation repeated at lap \(lap)")
            for old in earlier {
                #expect(!cnv_task_transition(SlotRing.record(slot), old, CNV_TASK_CANCELLED))
            }
            ring.publish(slot)
            let taken = try #require(ring.take())
            #expect(taken == slot)
            #expect(cnv_task_transition(SlotRing.record(taken), ticket, lap % 3 == 0 ? CNV_TASK_CANCELLED : CNV_TASK_RUNNING))
            ring.release(taken)
            tickets[slot, default: []].append(ticket)
        }
        #expect(tickets.count == 2 && tickets.values.allSatisfy { $0.count == 4 })
    }

    @Test("invalid capacities are refused with a typed error", arguments: [0, 1, 3, 100, 1 << 25])
    func refusesCapacity(capacity: Int) {
        #expect(throws: ConveyorError.self) { _ = try SlotRing(capacity: capacity) }
    }
}
