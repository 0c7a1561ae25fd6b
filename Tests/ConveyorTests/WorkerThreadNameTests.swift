import Foundation
import Testing

@testable import Conveyor

@Suite("Worker threads carry their name in the kernel")
struct WorkerThreadNameTests {
    /// What tools such as `top -H`, `perf` and gdb show for the calling thread.
    static func kernelName() -> String {
        (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    @Test("a worker's /proc comm is conveyor.GROUP.SLOT, cut to 15 bytes at a character boundary")
    func workerNames() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("io", minWorkers: 1), ResourceGroup("long-group-name", minWorkers: 1)])
        let io = try await conveyor.run(QueueTask(kind: "name", group: "io")) { Self.kernelName() }
        #expect(io.value == "conveyor.io.0")
        let long = try await conveyor.run(QueueTask(kind: "name", group: "long-group-name")) { Self.kernelName() }
        #expect(long.value == "conveyor.long-g")
        #expect(Self.kernelName() != "conveyor.io.0")
        await conveyor.shutdown()
        #expect(GroupRuntime.kernelThreadName("conveyor.café-au-lait.0") == "conveyor.café-")
        #expect(GroupRuntime.kernelThreadName("conveyor.cafés.0").utf8.count <= 15)
        #expect(GroupRuntime.kernelThreadName("conveyor.cafée.0") == "conveyor.cafée")
    }
}
