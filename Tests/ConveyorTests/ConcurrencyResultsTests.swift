import Conveyor
import Foundation
import Testing

@Suite("Concurrency: results as an AsyncSequence", .serialized)
struct ConcurrencyResultsTests {
    @Test("Submission order yields in input order; completion order yields every result once; errors stay per result")
    func orderAndErrors() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2, capacity: 1024, priorityLevels: 1)])
        struct Odd: Error {}
        let count = 5_000
        var expected = 0
        for await output in try conveyor.results(
            of: QueueTask(kind: "square", group: "cpu"), for: 0..<count, options: ResultsOptions(order: .submission, maxInFlight: 64),
            { (value: Int) throws -> Int in
                if value % 1000 == 999 { throw Odd() }
                return value * value
            })
        {
            #expect(output.index == expected)
            if output.index % 1000 == 999 {
                #expect(throws: Odd.self) { try output.get() }
            } else {
                #expect(try output.get() == output.index * output.index)
            }
            expected += 1
        }
        #expect(expected == count)
        var seen = Set<Int>()
        for await output in try conveyor.results(of: QueueTask(group: "cpu"), for: Array(0..<count), { $0 + 1 }) {
            #expect(try output.get() == output.index + 1)
            #expect(seen.insert(output.index).inserted)
        }
        #expect(seen.count == count)
        #expect(throws: ConveyorError.self) {
            try conveyor.results(of: QueueTask(group: "cpu"), for: 0..<1, options: ResultsOptions(maxInFlight: 0)) { $0 }
        }
        #expect(throws: ConveyorError.self) { try conveyor.results(of: QueueTask(group: "nope"), for: 0..<1) { $0 } }
        await conveyor.shutdown()
    }

    @Test("Backpressure: the input is read at most maxInFlight ahead of the consumer, and leaving early stops it")
    func backpressure() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", capacity: 1024, priorityLevels: 1)])
        let ran = SharedCounter()
        let results = try conveyor.results(
            of: QueueTask(group: "cpu"), for: 0..<100_000, options: ResultsOptions(maxInFlight: 16)
        ) { (value: Int) -> Int in
            ran.add(1)
            return value
        }
        var taken = 0
        for await _ in results {
            taken += 1
            if taken == 100 { break }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(ran.current >= 100)
        #expect(ran.current <= 100 + 16, "ran \(ran.current) for 100 consumed with at most 16 in flight")
        await conveyor.shutdown()
    }

    @Test("10⁶ results consumed with bounded memory (resident set measured, not counted)")
    func millionResultsBoundedMemory() async throws {
        let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2, capacity: 4096, priorityLevels: 1)])
        let count = StressScale.scaled(1_000_000, minimum: 100_000)
        // Each result holds 512 bytes: all of them at once would be ≥ 512 MB at full scale.
        let results = try conveyor.results(
            of: QueueTask(group: "cpu"), for: 0..<count, options: ResultsOptions(maxInFlight: 256)
        ) { (value: Int) -> [UInt64] in
            [UInt64](repeating: UInt64(value), count: 64)
        }
        // Warm up (pools, the first arrays), then take the baseline.
        var consumed = 0
        var baseline = 0
        var peak = 0
        var checksum: UInt64 = 0
        for await output in results {
            let value = try output.get()
            checksum &+= value[63]
            consumed += 1
            if consumed == 20_000 { baseline = MemoryStatistics.current().residentSetSize }
            if consumed > 20_000, consumed % 10_000 == 0 {
                peak = max(peak, MemoryStatistics.current().residentSetSize)
            }
        }
        #expect(consumed == count)
        #expect(checksum == UInt64(count) * UInt64(count - 1) / 2)
        let growth = peak - baseline
        let held = count * 512
        // Under AddressSanitizer freed blocks wait in its quarantine (up to 256 MiB), so the
        // resident set no longer says what is live: the bound is checked in the other builds.
        if dlsym(nil, "__asan_init") == nil {
            #expect(growth < 48 << 20, "resident set grew by \(growth >> 20) MiB (all results would hold \(held >> 20) MiB)")
        }
        await conveyor.shutdown()
    }
}
