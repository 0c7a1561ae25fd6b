// Harness: OS threads pinned to CPUs, a start gate, spin-then-yield backoff, statistics.
import CBenchSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the threads of one measurement share: a start gate and the time the last one finished.
final class StartGate: Sendable {
    let ready = Atomic<Int>(0)
    let open = Atomic<Bool>(false)
    let lastFinish = Atomic<UInt64>(0)

    func arriveAndWait() {
        self.ready.add(1, ordering: .releasing)
        while !self.open.load(ordering: .acquiring) { cb_yield() }
    }

    func finished() {
        let now = cb_now_ns()
        var seen = self.lastFinish.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = self.lastFinish.compareExchange(
                expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }
}

private final class ThreadBox {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Runs each body on its own OS thread (pthreads, not the Swift cooperative pool). Thread `i`
/// is pinned to the `i`-th allowed CPU (modulo the CPU count) when `pin` is set. All threads
/// wait at a gate; the result is the nanoseconds from opening the gate until the last thread
/// returned from its body.
func runOnThreads(pin: Bool, _ bodies: [@Sendable () -> Void]) -> UInt64 {
    let gate = StartGate()
    var threads: [pthread_t] = []
    threads.reserveCapacity(bodies.count)
    for (index, body) in bodies.enumerated() {
        let box = ThreadBox {
            if pin { _ = cb_pin_current_thread(Int32(index)) }
            gate.arriveAndWait()
            body()
            gate.finished()
        }
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<ThreadBox>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, Unmanaged.passRetained(box).toOpaque())
        precondition(status == 0, "pthread_create failed: \(status)")
        threads.append(thread)
    }
    while gate.ready.load(ordering: .acquiring) < bodies.count { cb_yield() }
    let start = cb_now_ns()
    gate.open.store(true, ordering: .releasing)
    for thread in threads { pthread_join(thread, nil) }
    let end = gate.lastFinish.load(ordering: .relaxed)
    return end > start ? end - start : 1
}

/// What a producer or consumer does when the queue is full or empty: PAUSE a few times, then
/// give the CPU away (with 4 threads on 2 cores the peer may need it to make progress).
struct Backoff {
    private var spins = 0

    @inline(__always)
    mutating func wait() {
        if self.spins < 32 {
            cb_cpu_relax()
            self.spins += 1
        } else {
            cb_yield()
        }
    }

    @inline(__always)
    mutating func reset() { self.spins = 0 }
}
