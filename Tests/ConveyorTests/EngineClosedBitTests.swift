import CConveyor
@testable import Conveyor
import Foundation
import Synchronization
import Testing

/// Shutdown without a per-task gate (issue 10): the rings' CLOSED bit refuses claims, the
/// shutdown waits for claimed slots to be published, and the overflow push keeps a narrow gate.
/// Many submitters of every kind of submit race `shutdown`; every accepted task is counted
/// exactly once (ran, or failed as not started), every refusal is `shutDown`, and nothing
/// refused ever runs.
@Suite("Engine: shutdown by the ring's CLOSED bit", .serialized)
struct EngineClosedBitTests {
    /// What each submitter does with its next id (`progress` counts accepted ids) (ids t, t + 4, t + 8, … belong to thread t).
    private enum Mode: Int, CaseIterable {
        case typed, closure, bulk, batch, blockingTyped, spilledTyped
    }

    @Test(
        "Submitters (typed, closure, bulk, batch, blocking .wait, spilling small rings) race shutdown(drain: true/false): accepted once, refused as shutDown",
        arguments: [true, false])
    func raceShutdown(drain: Bool) async throws {
        let rounds = 3
        for round in 0..<rounds {
            try await self.oneRound(drain: drain, round: round)
        }
    }

    private func oneRound(drain: Bool, round: Int) async throws {
        let submitters = 4
        let total = StressScale.scaled(120_000, minimum: 12_000)
        // Small rings: 16 slots per lane, so the spill group's overflow queue and the .wait
        // group's blocking path are both exercised while the workers fall behind.
        let conveyor = try Conveyor(groups: [
            ResourceGroup("spill", minWorkers: 1, capacity: 16, overflow: .spill(memoryLimit: 256 << 20)),
            ResourceGroup("wait", minWorkers: 1, capacity: 16, overflow: .wait(timeout: .seconds(60))),
        ])
        let seen = SeenCounts(total)
        let item = try conveyor.register("item", payload: Item.self) { seen.mark(CollectionOfOne(Int($0.index))) }
        let batch = try conveyor.registerBatch(
            "batch", payload: BatchItem.self, options: BatchOptions(maxBatchSize: 8, maxWaitTime: .milliseconds(2))
        ) { items in seen.mark(items.map { Int($0.id) }) }
        let accepted = IdFlags(total)
        let progress = SharedCounter()
        let unexpected = SharedCounter()
        let spillTask = QueueTask(kind: "item", group: "spill")
        let waitTask = QueueTask(kind: "item", group: "wait")
        let threads = Thread.detachedGroup(submitters) { thread in
            var index = thread
            var bulk: [Item] = []
            while index < total {
                let mode = Mode.allCases[(index / submitters + round) % Mode.allCases.count]
                do {
                    switch mode {
                    case .typed:
                        try conveyor.submit(item, Item(index: UInt64(index)), spillTask)
                        accepted.set(index)
                        index += submitters
                    case .closure:
                        let id = index
                        try conveyor.submit(QueueTask(kind: "closure", group: "spill")) { seen.mark(CollectionOfOne(id)) }
                        accepted.set(index)
                        index += submitters
                    case .bulk:
                        bulk.removeAll(keepingCapacity: true)
                        var next = index
                        while next < total && bulk.count < 24 {
                            bulk.append(Item(index: UInt64(next)))
                            next += submitters
                        }
                        let placed = try conveyor.submit(item, contentsOf: bulk, spillTask)
                        // Accepted in order: the first `placed` of the bulk.
                        for position in 0..<placed { accepted.set(Int(bulk[position].index)) }
                        progress.add(placed - 1)
                        // The rest, if any, was refused (a shutdown began); it must never run.
                        index = next
                    case .batch:
                        try conveyor.submit(batch, BatchItem(id: Int64(index), key: 0))
                        accepted.set(index)
                        index += submitters
                    case .blockingTyped:
                        try conveyor.submit(item, Item(index: UInt64(index)), waitTask)
                        accepted.set(index)
                        index += submitters
                    case .spilledTyped:
                        // The closure path of the spill group with a priority of its own lane.
                        let id = index
                        try conveyor.submit(QueueTask(kind: "closure", priority: .high, group: "spill")) {
                            seen.mark(CollectionOfOne(id))
                        }
                        accepted.set(index)
                        index += submitters
                    }
                    progress.add(1)
                } catch ConveyorError.shutDown {
                    // Refused: never accepted, must never run. Keep going: every later submit
                    // of every kind must be refused too (checked below through `seen`).
                    index += submitters
                    if mode == .bulk { index += submitters * 23 }
                } catch {
                    unexpected.add(1)
                    Issue.record("round \(round), drain \(drain): \(mode) refused with \(error), not shutDown")
                    index += submitters
                }
            }
        }
        // Shut down while the submitters are at full speed, at a different moment each round.
        let threshold = [total / 200, total / 20, total / 4][round % 3]
        #expect(eventually(timeout: .seconds(30)) { progress.current > threshold })
        await conveyor.shutdown(drain: drain)
        #expect(!conveyor.isAccepting)
        threads.wait()
        // After the shutdown returned, every kind of submit is refused with shutDown.
        #expect(throws: ConveyorError.shutDown) { try conveyor.submit(item, Item(index: 0), spillTask) }
        #expect(throws: ConveyorError.shutDown) { try conveyor.submit(item, Item(index: 0), waitTask) }
        #expect(throws: ConveyorError.shutDown) { try conveyor.submit { seen.mark(CollectionOfOne(0)) } }
        #expect(throws: ConveyorError.shutDown) { try conveyor.submit(item, contentsOf: [Item(index: 0)], spillTask) }
        #expect(throws: ConveyorError.shutDown) { try conveyor.submit(batch, BatchItem(id: 0, key: 0)) }
        for await _ in conveyor.failures {}

        let counts = seen.perId
        let flags = accepted.all
        var acceptedCount = 0
        var ranCount = 0
        var ranRefused = 0
        var duplicated = 0
        for id in 0..<total {
            if flags[id] { acceptedCount += 1 } else if counts[id] != 0 { ranRefused += 1 }
            if counts[id] > 0 { ranCount += 1 }
            if counts[id] > 1 { duplicated += 1 }
        }
        let notStarted = conveyor.notStartedCount
        #expect(unexpected.current == 0)
        #expect(duplicated == 0, "round \(round), drain \(drain): \(duplicated) tasks ran twice")
        #expect(ranRefused == 0, "round \(round), drain \(drain): \(ranRefused) refused tasks ran")
        #expect(acceptedCount > threshold && acceptedCount < total, "round \(round): the shutdown raced the submitters")
        if drain {
            #expect(ranCount == acceptedCount, "round \(round), drain: ran \(ranCount) of \(acceptedCount) accepted")
            #expect(notStarted == 0)
        } else {
            #expect(
                ranCount + notStarted == acceptedCount,
                "round \(round), stop: ran \(ranCount) + not started \(notStarted) = accepted \(acceptedCount)")
        }
    }

    @Test("A claimed slot not yet published holds the close's wait until it is published; no claim after the close")
    func waitForClaimedSlot() throws {
        let ring = try SlotRing(capacity: 8)
        let first = ring.claim()
        let second = ring.claim()
        #expect(first != nil && second != nil)
        ring.publish(second!)  // out of order: position 1 published, position 0 still claimed
        let closedTail = ring.close()
        #expect(closedTail == 2)
        #expect(ring.claim() == nil, "no claim succeeds once CLOSED is set")
        #expect(ring.claim(upTo: 4).claimed == 0, "no burst claim either")
        #expect(ring.isClosed)
        #expect(ring.count == 2, "count ignores the CLOSED bit")
        let waited = SharedCounter()
        let waiter = Thread.detachedGroup(1) { _ in
            _ = ring.waitPublished(below: closedTail)
            waited.add(1)
        }
        usleep(30_000)
        #expect(waited.current == 0, "the wait ends only after the claimed slot is published")
        ring.publish(first!)
        waiter.wait()
        #expect(waited.current == 1)
        // Both tasks are still there for the workers (the drain takes them).
        #expect(ring.take(upTo: 4).taken == 2)
        #expect(ring.close() == closedTail, "closing again changes nothing")
    }
}
