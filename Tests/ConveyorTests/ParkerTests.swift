import Foundation
import Conveyor
import Synchronization
import Testing

@Suite("Parker", .serialized)
struct ParkerTests {
    @Test("Unpark makes no system call when nobody is parked")
    func noSyscallWithoutSleepers() throws {
        let parker = try Parker()
        for _ in 0..<1_000_000 { parker.unpark() }
        #expect(parker.wakeSystemCalls == 0)
        #expect(parker.sleepers == 0)
    }

    @Test("Unpark wakes a parked thread with one system call")
    func wakesParkedThread() throws {
        let parker = try Parker()
        let ready = Atomic<Bool>(false)
        let woke = SharedCounter()
        runOnThreads(2) { thread in
            if thread == 0 {
                let done = parker.wait(spinning: 0, timeout: .seconds(30)) { ready.load(ordering: .acquiring) }
                if done { woke.add(1) }
            } else {
                while parker.sleepers == 0 { sched_yield() }
                usleep(10_000)  // let it reach the futex
                ready.store(true, ordering: .releasing)
                parker.unpark()
            }
        }
        #expect(woke.current == 1)
        #expect(parker.wakeSystemCalls == 1)
        #expect(parker.sleepers == 0)
    }

    @Test("A wait with a timeout returns false when the condition never holds")
    func timesOut() throws {
        let parker = try Parker()
        let clock = ContinuousClock()
        let start = clock.now
        let result = parker.wait(spinning: 10, timeout: .milliseconds(50)) { false }
        #expect(result == false)
        #expect(start.duration(to: clock.now) >= .milliseconds(50))
        #expect(parker.sleepers == 0)
    }

    @Test("Ping-pong: a million park/unpark hand-offs, no lost wake-up")
    func pingPong() throws {
        let cycles = StressScale.scaled(1_000_000)
        let parkers = [try Parker(), try Parker()]
        let turn = Atomic<Int>(0)
        let lost = SharedCounter()
        runOnThreads(2) { player in
            let mine = parkers[player]
            let other = parkers[1 - player]
            var random = SplitMix64(state: UInt64(player + 1))
            for cycle in 0..<cycles {
                let expected = 2 * cycle + player
                // Mostly park straight away (spinning 0) to exercise the prepare/park race;
                // sometimes spin first, as a worker would.
                let spins = Int.random(in: 0..<4, using: &random) == 0 ? 50 : 0
                // The timeout is a watchdog: a lost wake-up would leave this thread asleep.
                let ok = mine.wait(spinning: spins, timeout: .seconds(10)) {
                    turn.load(ordering: .acquiring) == expected
                }
                if !ok {
                    lost.add(1)
                    turn.store(Int.min, ordering: .releasing)
                    other.unparkAll()
                    return
                }
                turn.store(expected + 1, ordering: .releasing)
                other.unpark()
            }
        }
        #expect(lost.current == 0)
        #expect(turn.load(ordering: .relaxed) == 2 * cycles)
        #expect(parkers[0].sleepers == 0 && parkers[1].sleepers == 0)
    }
}
