import Conveyor
import DequeModule
import Testing

/// Random sequences of single and bulk operations, checked step by step against a `Deque`.
@Suite("Ring model")
struct RingModelTests {
    /// The operations both ring kinds share, so one model test covers both.
    struct RingUnderTest {
        var capacity: Int
        var tryEnqueue: (UInt) -> Bool
        var tryDequeue: () -> UInt?
        var enqueueBurst: (UnsafeBufferPointer<UInt>) -> Int
        var enqueueAll: (UnsafeBufferPointer<UInt>) -> Bool
        var dequeueBurst: (UnsafeMutableBufferPointer<UInt>) -> Int
        var dequeueAll: (UnsafeMutableBufferPointer<UInt>) -> Bool
        var count: () -> Int
    }

    static func mpmc(_ capacity: Int) throws -> RingUnderTest {
        let ring = try MPMCRing(capacity: capacity)
        return RingUnderTest(
            capacity: capacity, tryEnqueue: ring.tryEnqueue, tryDequeue: ring.tryDequeue,
            enqueueBurst: ring.enqueue(contentsOf:), enqueueAll: ring.enqueueAll,
            dequeueBurst: ring.dequeue(into:), dequeueAll: ring.dequeueAll(into:), count: { ring.count })
    }

    static func spsc(_ capacity: Int) throws -> RingUnderTest {
        let ring = try SPSCRing(capacity: capacity)
        return RingUnderTest(
            capacity: capacity, tryEnqueue: ring.tryEnqueue, tryDequeue: ring.tryDequeue,
            enqueueBurst: ring.enqueue(contentsOf:), enqueueAll: ring.enqueueAll,
            dequeueBurst: ring.dequeue(into:), dequeueAll: ring.dequeueAll(into:), count: { ring.count })
    }

    func check(_ ring: RingUnderTest, seed: UInt64, steps: Int) {
        var random = SplitMix64(state: seed)
        var model = Deque<UInt>()
        var next: UInt = 1
        var scratch = [UInt](repeating: 0, count: ring.capacity * 2 + 3)
        for step in 0..<steps {
            let size = Int.random(in: 0...(ring.capacity + 2), using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0:
                let accepted = ring.tryEnqueue(next)
                #expect(accepted == (model.count < ring.capacity), "step \(step): single enqueue")
                if accepted { model.append(next) }
                next += 1
            case 1:
                let value = ring.tryDequeue()
                #expect(value == model.popFirst(), "step \(step): single dequeue")
            case 2:
                let values = (0..<size).map { next + UInt($0) }
                let moved = values.withUnsafeBufferPointer { ring.enqueueBurst($0) }
                #expect(moved == min(size, ring.capacity - model.count), "step \(step): burst enqueue of \(size)")
                model.append(contentsOf: values.prefix(moved))
                next += UInt(size)
            case 3:
                let values = (0..<size).map { next + UInt($0) }
                let all = values.withUnsafeBufferPointer { ring.enqueueAll($0) }
                #expect(all == (size <= ring.capacity - model.count), "step \(step): bulk enqueue of \(size)")
                if all { model.append(contentsOf: values) }
                next += UInt(size)
            case 4:
                let taken = scratch.withUnsafeMutableBufferPointer { ring.dequeueBurst(.init(rebasing: $0[0..<size])) }
                #expect(taken == min(size, model.count), "step \(step): burst dequeue of \(size)")
                for index in 0..<taken { #expect(scratch[index] == model.popFirst()) }
            default:
                let all = scratch.withUnsafeMutableBufferPointer { ring.dequeueAll(.init(rebasing: $0[0..<size])) }
                #expect(all == (size <= model.count), "step \(step): bulk dequeue of \(size)")
                if all { for index in 0..<size { #expect(scratch[index] == model.popFirst()) } }
            }
            #expect(ring.count() == model.count, "step \(step): count")
        }
    }

    @Test("MPMC ring matches a Deque", arguments: [2, 8, 64])
    func mpmcMatchesModel(capacity: Int) throws {
        for seed in UInt64(1)...4 { self.check(try Self.mpmc(capacity), seed: seed * 7919, steps: 20_000) }
    }

    @Test("SPSC ring matches a Deque", arguments: [2, 8, 64])
    func spscMatchesModel(capacity: Int) throws {
        for seed in UInt64(1)...4 { self.check(try Self.spsc(capacity), seed: seed * 104_729, steps: 20_000) }
    }

    @Test("Full and empty edges, and wrap-around over many laps")
    func edgesAndWrapAround() throws {
        let ring = try MPMCRing(capacity: 4)
        #expect(ring.tryDequeue() == nil)
        for value in UInt(1)...4 { #expect(ring.tryEnqueue(value)) }
        #expect(!ring.tryEnqueue(5), "a full ring refuses")
        #expect([UInt(9)].withUnsafeBufferPointer { ring.enqueue(contentsOf: $0) } == 0)
        for lap in UInt(0)..<10_000 {
            #expect(ring.tryDequeue() == lap + 1)
            #expect(ring.tryEnqueue(lap + 5))
        }
        #expect(ring.count == 4)
    }

    @Test("Capacities that are not a power of two are refused with advice",
          arguments: [0, 1, 3, 1000, -8])
    func rejectsBadCapacity(capacity: Int) {
        #expect(throws: ConveyorError.self) { try MPMCRing(capacity: capacity) }
        #expect(throws: ConveyorError.self) { try SPSCRing(capacity: capacity) }
        do {
            _ = try MPMCRing(capacity: capacity)
        } catch {
            #expect("\(error)".contains("power of two"))
        }
    }

    @Test("Empty buffers are no-ops")
    func emptyBuffers() throws {
        let ring = try MPMCRing(capacity: 8)
        let none: [UInt] = []
        #expect(none.withUnsafeBufferPointer { ring.enqueue(contentsOf: $0) } == 0)
        #expect(none.withUnsafeBufferPointer { ring.enqueueAll($0) })
        #expect(ring.count == 0)
    }
}
