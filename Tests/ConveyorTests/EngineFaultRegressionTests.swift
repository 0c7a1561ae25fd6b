import Conveyor
import Foundation
import Synchronization
import Testing

/// Defects the engine fault-injection loop found (issue 16, Fuzz/EngineFault, `make
/// fault-injection`), checked here without the fault build where a public path reaches them.
@Suite("Engine fault regressions")
struct EngineFaultRegressionTests {
    /// A bulk submit whose later chunk failed threw, though its earlier chunks were queued and
    /// ran: the caller was told none was accepted. The loop found it with record memory
    /// exhausted; here the second chunk meets a closed engine instead (the same throw).
    @Test("a bulk submit that fails after its first chunk returns the queued count instead of throwing")
    func bulkFailureAfterFirstChunk() async throws {
        let ran = Mutex<Set<Int>>([])
        let conveyor = try Conveyor(groups: [ResourceGroup("bulk", minWorkers: 1, capacity: 64)])
        let kind = try conveyor.register("item", payload: Int.self) { id in _ = ran.withLock { $0.insert(id) } }
        let shutdown = Mutex<Task<Void, Never>?>(nil)
        // Payloads are gathered 16 at a time: the 17th is produced once the engine stopped accepting.
        let payloads = (0..<40).lazy.map { id -> Int in
            if id == 16 {
                shutdown.withLock { $0 = Task.detached { await conveyor.shutdown(drain: true) } }
                while conveyor.isAccepting { usleep(100) }
            }
            return id
        }
        let accepted = try conveyor.submit(kind, contentsOf: payloads)
        await shutdown.withLock { $0 }?.value
        #expect(accepted == 16)
        #expect(ran.withLock { $0 } == Set(0..<16))
    }
}
