import Conveyor
import Foundation
import Synchronization
import Testing

/// A seeded random script against the real engine: fire-and-forget tasks with tickets (some
/// with start deadlines), awaited `run` tasks (some with deadlines, some whose Swift task is
/// cancelled), cancels with current and stale tickets, workers blocked so that tasks queue up
/// and deadlines pass, then a drain or a stop. Checked per task: exactly one outcome. A task
/// ran at most once; a task whose cancel returned true never ran; an awaited task's body ran
/// exactly when its `run` returned a value; every other fire-and-forget task was reported once
/// (expired, or notStarted under stop) through `onFailure`, so ran + cancelled + reported
/// equals the number accepted; drain leaves nothing notStarted. The C state machine itself is
/// fuzzed by Fuzz/harness/fuzz_task_state.c; this drives the engine's use of it.
@Suite("Task state machine: a randomized script against the engine", .serialized)
struct TaskStateMachineTests {
    /// One flag per task: how often its body ran, and whether a cancel of it returned true.
    final class Ledger: Sendable {
        let runs: [Counter]
        let cancelled: [Counter]

        init(count: Int) {
            self.runs = (0..<count).map { _ in Counter() }
            self.cancelled = (0..<count).map { _ in Counter() }
        }
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func add() { self.value.add(1, ordering: .releasing) }
        var count: Int { self.value.load(ordering: .acquiring) }
    }

    /// What an awaited task's `run` ended with.
    enum AwaitedOutcome: Sendable, Equatable {
        case value(Int)
        case cancelled
        case expired
        case notStarted
        case refused
        case other(String)
    }

    @Test("Every task has exactly one outcome, under drain and under stop", arguments: [
        UInt64(0x5EED_0001), 0x5EED_0002, 0x5EED_0003, 0x5EED_0004,
    ])
    func oneOutcomePerTask(seed: UInt64) async throws {
        var random = SplitMix64(state: seed)  // seeded, so a failing seed replays
        let count = StressScale.scaled(2_000, minimum: 400)
        let ledger = Ledger(count: count)
        let expired = Counter(), notStarted = Counter(), otherFailures = Counter()
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("work", minWorkers: 2, capacity: 16_384)],
            onFailure: { failure in
                guard failure.kind == "queued" else { return }  // blockers (stop: notStarted) are not counted
                switch failure.error as? ConveyorError {
                case .deadlineExceeded?: expired.add()
                case .notStarted?: notStarted.add()
                default: otherFailures.add()
                }
            },
            failureBufferSize: 0))

        // Blockers hold workers so that tasks queue behind them (cancels and deadlines then
        // find queued tasks); each waits for its own release.
        var releases: [Counter] = []
        var tickets: [(index: Int, ticket: TaskTicket)] = []
        var awaited: [(index: Int, task: Task<AwaitedOutcome, Never>)] = []
        var acceptedFireAndForget = 0
        var refusedFireAndForget = 0

        for index in 0..<count {
            let roll = Int.random(in: 0..<100, using: &random)
            if roll < 3, releases.count < 2 {
                let release = Counter()
                releases.append(release)
                _ = try conveyor.submit(QueueTask(kind: "blocker", group: "work")) {
                    while release.count == 0 { usleep(50) }
                }
            } else if roll < 8, !releases.isEmpty {
                releases.removeFirst().add()
            }
            if Int.random(in: 0..<100, using: &random) < 10 {
                try? await Task.sleep(for: .microseconds(Int.random(in: 50...400, using: &random)))
            }
            let deadlineRoll = Int.random(in: 0..<4, using: &random)
            let shortDeadline = Duration.microseconds(Int.random(in: 20...300, using: &random))
            let deadline: Duration? = deadlineRoll == 0 ? shortDeadline : deadlineRoll == 1 ? .milliseconds(50) : nil
            let runs = ledger.runs[index]
            if Int.random(in: 0..<4, using: &random) == 0 {
                // Awaited: the outcome comes back to this caller, exactly once.
                let cancelLater = Int.random(in: 0..<5, using: &random) == 0
                let task = Task { () -> AwaitedOutcome in
                    do {
                        let result = try await conveyor.run(QueueTask(kind: "awaited", group: "work", deadline: deadline)) {
                            runs.add()
                            return index
                        }
                        return .value(result.value)
                    } catch is CancellationError {
                        return .cancelled
                    } catch let error as ConveyorError {
                        switch error {
                        case .cancelled: return .cancelled
                        case .deadlineExceeded: return .expired
                        case .notStarted: return .notStarted
                        case .shutDown: return .refused
                        default: return .other("\(error)")
                        }
                    } catch {
                        return .other("\(error)")
                    }
                }
                if cancelLater { task.cancel() }
                awaited.append((index, task))
            } else {
                do {
                    let ticket = try conveyor.submit(QueueTask(kind: "queued", group: "work", deadline: deadline)) { runs.add() }
                    tickets.append((index, ticket))
                    acceptedFireAndForget += 1
                } catch {
                    refusedFireAndForget += 1
                }
            }
            // Cancel a random earlier ticket: often current (queued behind a blocker), often
            // stale (its task ran or its record was reused since).
            if !tickets.isEmpty, Int.random(in: 0..<100, using: &random) < 20 {
                let pick = tickets[Int.random(in: 0..<tickets.count, using: &random)]
                if conveyor.cancel(pick.ticket) { ledger.cancelled[pick.index].add() }
            }
        }
        for release in releases { release.add() }
        let drain = Bool.random(using: &random)
        await conveyor.shutdown(drain: drain)
        // After shutdown every ticket is stale: no cancel may win any more.
        for (_, ticket) in tickets.prefix(64) {
            #expect(!conveyor.cancel(ticket), "a cancel after shutdown won (seed \(seed))")
        }

        var outcomes: [Int: AwaitedOutcome] = [:]
        for (index, task) in awaited { outcomes[index] = await task.value }

        #expect(refusedFireAndForget == 0, "submits before shutdown were refused (seed \(seed))")
        #expect(otherFailures.count == 0, "unexpected failure reports (seed \(seed))")
        var ranFireAndForget = 0
        var cancelledFireAndForget = 0
        for (index, _) in tickets {
            let runs = ledger.runs[index].count
            let cancels = ledger.cancelled[index].count
            #expect(runs <= 1, "task \(index) ran \(runs) times (seed \(seed))")
            #expect(cancels <= 1, "two cancels of task \(index) won (seed \(seed))")
            #expect(!(runs > 0 && cancels > 0), "task \(index) ran although its cancel won (seed \(seed))")
            ranFireAndForget += runs
            cancelledFireAndForget += cancels
        }
        // Every fire-and-forget task that neither ran nor was cancelled was reported once.
        #expect(
            ranFireAndForget + cancelledFireAndForget + expired.count + notStarted.count == acceptedFireAndForget,
            "ran \(ranFireAndForget) + cancelled \(cancelledFireAndForget) + expired \(expired.count) + notStarted \(notStarted.count) ≠ accepted \(acceptedFireAndForget) (seed \(seed))")
        if drain { #expect(notStarted.count == 0, "drain left tasks not started (seed \(seed))") }
        for (index, outcome) in outcomes {
            let runs = ledger.runs[index].count
            switch outcome {
            case .value(let value):
                #expect(value == index && runs == 1, "awaited task \(index) returned \(value), ran \(runs) times (seed \(seed))")
            case .cancelled, .expired, .notStarted, .refused:
                #expect(runs == 0, "awaited task \(index) ended \(outcome) but its body ran (seed \(seed))")
                if drain { #expect(outcome != .notStarted, "drain: awaited task \(index) not started (seed \(seed))") }
            case .other(let text):
                Issue.record("awaited task \(index) failed with \(text) (seed \(seed))")
            }
        }
        var tally: [String: Int] = [:]
        for outcome in outcomes.values {
            let name: String
            switch outcome {
            case .value: name = "value"
            case .cancelled: name = "cancelled"
            case .expired: name = "expired"
            case .notStarted: name = "notStarted"
            case .refused: name = "refused"
            case .other: name = "other"
            }
            tally[name, default: 0] += 1
        }
        print("seed \(String(seed, radix: 16)) \(drain ? "drain" : "stop"): \(acceptedFireAndForget) fire-and-forget "
            + "(ran \(ranFireAndForget), cancelled \(cancelledFireAndForget), expired \(expired.count), notStarted \(notStarted.count)); "
            + "awaited \(tally.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        // The script exercised what it claims to (so the checks above are not vacuous).
        #expect(ranFireAndForget > 0 && tickets.count > 0 && !awaited.isEmpty)
    }
}
