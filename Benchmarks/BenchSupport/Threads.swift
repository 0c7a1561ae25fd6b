// OS threads for measurements: pinned to CPUs, started together at a gate, with a
// spin-then-yield backoff for loops that wait on a peer.
import CBenchSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the threads of one measurement share: a start gate and the time the last one finished.
@usableFromInline package final class StartGate: Sendable {
    @usableFromInline package let ready = Atomic<Int>(0)
    @usableFromInline package let open = Atomic<Bool>(false)
    @usableFromInline package let lastFinish = Atomic<UInt64>(0)

    @usableFromInline package init() {}

    @usableFromInline package func arriveAndWait() {
        // Releasing/acquiring: the opener sees every thread arrived, and each thread sees the
        // opener's writes before the gate opened.
        self.ready.add(1, ordering: .releasing)
        while !self.open.load(ordering: .acquiring) { cb_yield() }
    }

    @usableFromInline package func finished() {
        let now = nowNanoseconds()
        var seen = self.lastFinish.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = self.lastFinish.compareExchange(
                expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }
}

/// Runs each body on its own OS thread (pthreads, not the Swift cooperative pool). Thread `i`
/// is pinned to the `i`-th allowed CPU (modulo the CPU count) when `pin` is set. All threads
/// wait at a gate; the result is the nanoseconds from opening the gate until the last thread
/// returned from its body.
@usableFromInline package func runOnThreads(pin: Bool, _ bodies: [@Sendable () -> Void]) -> UInt64 {
    let gate = StartGate()
    let threads = bodies.enumerated().map { index, body in
        JoinableThread {
            if pin { _ = cb_pin_current_thread(Int32(index)) }
            gate.arriveAndWait()
            body()
            gate.finished()
        }
    }
    while gate.ready.load(ordering: .acquiring) < bodies.count { cb_yield() }
    let start = nowNanoseconds()
    gate.open.store(true, ordering: .releasing)
    for thread in threads { thread.join() }
    // Relaxed: the joins above order every thread's last store before this load.
    let end = gate.lastFinish.load(ordering: .relaxed)
    return end > start ? end - start : 1
}

/// What a producer or consumer does when the queue is full or empty: PAUSE a few times, then
/// give the CPU away (with 4 threads on 2 cores the peer may need it to make progress).
@usableFromInline package struct Backoff {
    private var spins = 0

    @usableFromInline package init() {}

    @inline(__always)
    @usableFromInline package mutating func wait() {
        if self.spins < 32 {
            cb_cpu_relax()
            self.spins += 1
        } else {
            cb_yield()
        }
    }

    @inline(__always)
    @usableFromInline package mutating func reset() { self.spins = 0 }
}
