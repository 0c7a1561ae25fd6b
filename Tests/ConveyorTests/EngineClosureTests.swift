import Conveyor
import Foundation
import Synchronization
import Testing

/// Counts its deinits, to see that the engine releases what a closure captured.
final class Captured: Sendable {
    let deinits: SharedCounter
    init(_ deinits: SharedCounter) { self.deinits = deinits }
    deinit { self.deinits.add(1) }
}

@Suite("Engine: closures stored in the task record", .serialized)
struct EngineClosureTests {
    @Test("Every closure's captures are released: run, cancelled, expired, refused and not started")
    func capturesReleased() async throws {
        let deinits = SharedCounter()
        let ran = SharedCounter()
        let conveyor = try Conveyor(groups: [ResourceGroup("a", capacity: 64, priorityLevels: 1, overflow: .reject)])
        let hold = Gate(value: 0)
        try conveyor.submit { hold.wait() }
        #expect(eventually { (try? conveyor.statistics(for: "a").queued) == 0 })
        var made = 0
        var tickets: [TaskTicket] = []
        for index in 0..<80 {  // 64 fit; the rest are refused (ring full, .reject)
            let object = Captured(deinits)
            made += 1
            let task = QueueTask(kind: "captures", deadline: index % 4 == 1 ? .zero : nil)
            if let ticket = try? conveyor.submit(task, { _ = object; ran.add(1) }) { tickets.append(ticket) }
        }
        for ticket in tickets.prefix(16) { conveyor.cancel(ticket) }
        let stopping = Task { await conveyor.shutdown(drain: false) }
        try await Task.sleep(for: .milliseconds(20))
        hold.signal()
        await stopping.value
        #expect(deinits.current == made, "\(made - deinits.current) captured objects were never released")
        let stats = try conveyor.statistics(for: "a")
        #expect(ran.current + stats.cancelled + stats.expired + conveyor.notStartedCount == 64)
    }

    @Test("submit { } without a QueueTask runs as kind \"task\" at normal priority, in the routed group")
    func plainClosure() async throws {
        let conveyor = try Conveyor(configuration: .init(
            groups: [ResourceGroup("cpu"), ResourceGroup("io")], routes: [QueueTask.defaultKind: "io"]))
        conveyor.enableKindCounting()
        let ran = SharedCounter()
        for _ in 0..<100 { try conveyor.submit { ran.add(1) } }
        await conveyor.shutdown(drain: true)
        #expect(ran.current == 100)
        #expect(try conveyor.statistics(for: "io").completed == 100)
        #expect(conveyor.kindStatistics[QueueTask.defaultKind]?.completed == 100)
    }
}
