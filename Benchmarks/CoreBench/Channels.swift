// Queue workloads: producers send consecutive integers through a queue, consumers add them up.
// One "op" is one item moved: one enqueue plus one dequeue.
import BenchSupport
import Conveyor
import DequeModule
import Synchronization

/// Entries every queue may hold at once: the rings' capacity, and the bound the unbounded
/// peers (wfcqueue, Mutex<Deque>) are held to so that all of them run with the same backlog.
let queueCapacity = 1024
/// Items per bulk operation.
let bulkBatch = 32

/// A queue seen by the producer and consumer loops. Generic code over it is specialized, so
/// no indirect call sits between a loop and the queue's operation.
protocol Channel: Sendable {
    /// Producer: hands over up to `count` of `values`; returns how many were taken (0 = full).
    func send(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int
    /// Consumer: takes up to `count` values into `values`; returns how many (0 = empty).
    func receive(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int
}

/// What the ring channels need of `MPMCRing` and `SPSCRing`, which have the same API.
protocol BenchRing: Sendable {
    init(capacity: Int) throws
    func tryEnqueue(_ value: UInt) -> Bool
    func tryDequeue() -> UInt?
    func enqueue(contentsOf values: UnsafeBufferPointer<UInt>) -> Int
    func dequeue(into buffer: UnsafeMutableBufferPointer<UInt>) -> Int
}

extension MPMCRing: BenchRing {}
extension SPSCRing: BenchRing {}

/// A ring with `tryEnqueue` / `tryDequeue` (one value per call).
struct RingSingle<Ring: BenchRing>: Channel {
    let ring: Ring
    init() { self.ring = try! Ring(capacity: queueCapacity) }
    @inline(__always) func send(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        self.ring.tryEnqueue(values[0]) ? 1 : 0
    }
    @inline(__always) func receive(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        guard let value = self.ring.tryDequeue() else { return 0 }
        values[0] = value
        return 1
    }
}

/// A ring with `enqueue(contentsOf:)` / `dequeue(into:)` (MPMC: one CAS per batch; SPSC: one
/// index store per batch).
struct RingBulk<Ring: BenchRing>: Channel {
    let ring: Ring
    init() { self.ring = try! Ring(capacity: queueCapacity) }
    @inline(__always) func send(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        self.ring.enqueue(contentsOf: UnsafeBufferPointer(start: values, count: count))
    }
    @inline(__always) func receive(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        self.ring.dequeue(into: UnsafeMutableBufferPointer(start: values, count: count))
    }
}

/// liburcu wfcqueue through OverflowQueue (nodes from its slab pool). wfcqueue has no bulk
/// enqueue: `send` enqueues its values one by one, after one check of the backlog bound per
/// call (its producer always offers up to `bulkBatch` values, so the bound costs a shared
/// read once per 32 items, not once per item). The consumer drains 1 or up to 32 values per
/// `drain` call (the workload's receive batch).
struct Wfcqueue: Channel {
    let queue: OverflowQueue
    init() { self.queue = try! OverflowQueue() }
    @inline(__always) func send(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        let room = queueCapacity - self.queue.count
        if room <= 0 { return 0 }
        let n = min(room, count)
        for index in 0..<n { try! self.queue.enqueue(values[index]) }
        return n
    }
    @inline(__always) func receive(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        try! self.queue.drain(into: UnsafeMutableBufferPointer(start: values, count: count))
    }
}

/// `Mutex<Deque<UInt>>` (Synchronization + DequeModule), bounded to `queueCapacity`. Single
/// mode: one value per lock; bulk mode: up to 32 values per lock (the loops pass the count).
final class LockedDeque: Channel {
    let mutex = Mutex(Deque<UInt>(minimumCapacity: queueCapacity))

    @inline(__always) func send(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        self.mutex.withLock { deque in
            let n = min(queueCapacity - deque.count, count)
            if n <= 0 { return 0 }
            if n == 1 {
                deque.append(values[0])
            } else {
                deque.append(contentsOf: UnsafeBufferPointer(start: values, count: n))
            }
            return n
        }
    }
    @inline(__always) func receive(_ values: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        self.mutex.withLock { deque in
            let n = min(deque.count, count)
            for index in 0..<n { values[index] = deque.removeFirst() }
            return n
        }
    }
}

/// Totals the consumers report.
final class Tally: Sendable {
    let received = Atomic<Int>(0)
    let sum = Atomic<UInt>(0)
    let producersDone = Atomic<Int>(0)
}

/// Moves `items` integers from `producers` threads to `consumers` threads through `channel`,
/// `sendBatch` / `receiveBatch` values per operation (1 = single-item ops). Returns ns per
/// item. Checks that every item arrived exactly once (by count and sum).
func transfer<C: Channel>(
    _ channel: C, producers: Int, consumers: Int, items: Int, sendBatch: Int, receiveBatch: Int,
    pin: Bool
) -> Double {
    let perProducer = items / producers
    let total = perProducer * producers
    let tally = Tally()
    var bodies: [@Sendable () -> Void] = []
    // Producers and consumers alternate so that pinning puts one of each on every CPU.
    for index in 0..<max(producers, consumers) {
        if index < producers {
            let first = UInt(index * perProducer + 1)
            bodies.append {
                produce(channel, first: first, count: perProducer, batch: sendBatch)
                tally.producersDone.add(1, ordering: .releasing)
            }
        }
        if index < consumers {
            bodies.append {
                consume(channel, batch: receiveBatch, producers: producers, tally: tally)
            }
        }
    }
    let elapsed = runOnThreads(pin: pin, bodies)
    let received = tally.received.load(ordering: .acquiring)
    let sum = tally.sum.load(ordering: .acquiring)
    let expected = UInt(total) &* UInt(total + 1) / 2
    precondition(received == total && sum == expected, "lost or duplicated items: \(received)/\(total)")
    return Double(elapsed) / Double(total)
}

@inline(__always)
func produce<C: Channel>(_ channel: C, first: UInt, count: Int, batch: Int) {
    let buffer = UnsafeMutablePointer<UInt>.allocate(capacity: bulkBatch)
    defer { buffer.deallocate() }
    var backoff = Backoff()
    var sent = 0
    while sent < count {
        let n = min(batch, count - sent)
        for index in 0..<n { buffer[index] = first &+ UInt(sent + index) }
        let taken = channel.send(buffer, n)
        if taken == 0 {
            backoff.wait()
        } else {
            sent += taken
            backoff.reset()
        }
    }
}

@inline(__always)
func consume<C: Channel>(_ channel: C, batch: Int, producers: Int, tally: Tally) {
    let buffer = UnsafeMutablePointer<UInt>.allocate(capacity: bulkBatch)
    defer { buffer.deallocate() }
    var backoff = Backoff()
    var received = 0
    var sum: UInt = 0
    while true {
        let taken = channel.receive(buffer, batch)
        if taken > 0 {
            for index in 0..<taken { sum &+= buffer[index] }
            received += taken
            backoff.reset()
            continue
        }
        // Empty. Once every producer is done (and its values are visible), empty means finished.
        if tally.producersDone.load(ordering: .acquiring) == producers {
            let last = channel.receive(buffer, batch)
            if last == 0 { break }
            for index in 0..<last { sum &+= buffer[index] }
            received += last
            continue
        }
        backoff.wait()
    }
    tally.received.add(received, ordering: .releasing)
    tally.sum.add(sum, ordering: .releasing)
}
