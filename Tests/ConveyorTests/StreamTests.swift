@testable import Conveyor
import Foundation
import Synchronization
import Testing

/// Objects alive right now and at most, counted by init/deinit: the memory a stream really
/// holds, independent of the processor's own counters.
final class LiveObjects: Sendable {
    private let live = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)
    func born() {
        let now = self.live.add(1, ordering: .relaxed).newValue
        var seen = self.peak.load(ordering: .relaxed)
        while now > seen {
            let (done, original) = self.peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if done { break }
            seen = original
        }
    }
    func died() { self.live.subtract(1, ordering: .relaxed) }
    var count: Int { self.live.load(ordering: .relaxed) }
    var maximum: Int { self.peak.load(ordering: .relaxed) }
}

/// An input element that counts itself alive.
final class Blob: Sendable {
    let index: Int
    let tracker: LiveObjects
    init(_ index: Int, tracker: LiveObjects) {
        self.index = index
        self.tracker = tracker
        tracker.born()
    }
    deinit { self.tracker.died() }
}

/// An input of `count` elements made on demand; throws `CacheBoom(code: 99)` at `failAt`;
/// counts how many were read.
struct GeneratedInput<Element: Sendable>: AsyncSequence, Sendable {
    let count: Int
    let failAt: Int?
    let reads: Tally
    let make: @Sendable (Int) -> Element

    struct AsyncIterator: AsyncIteratorProtocol {
        let input: GeneratedInput
        var next = 0
        mutating func next() async throws -> Element? {
            if let failAt = self.input.failAt, self.next == failAt { throw CacheBoom(code: 99) }
            guard self.next < self.input.count else { return nil }
            defer { self.next += 1 }
            self.input.reads.increment()
            if self.next % 64 == 0 { await Task.yield() }
            return self.input.make(self.next)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(input: self) }
}

private func makeConveyor() throws -> Conveyor {
    try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2)])
}

@Suite("StreamProcessor: configuration and bad input")
struct StreamConfigurationTests {
    @Test("chunkSize 0, memoryLimit 0 and a BitwiseCopyable chunk over the limit are typed errors")
    func badConfiguration() async throws {
        let conveyor = try makeConveyor()
        let cases: [(String, () throws -> Void)] = [
            ("chunkSize is 0", { _ = try StreamProcessor<Int, Int>(conveyor: conveyor, chunkSize: 0) { $0 } }),
            ("memoryLimit is 0", { _ = try StreamProcessor<Int, Int>(conveyor: conveyor, memoryLimit: 0) { $0 } }),
            ("maxChunksInFlight is 0", { _ = try StreamProcessor<Int, Int>(conveyor: conveyor, maxChunksInFlight: 0) { $0 } }),
            ("exceeds memoryLimit 7999", { _ = try StreamProcessor<Int, Int>(conveyor: conveyor, memoryLimit: 7_999) { $0 } }),
            ("chunkSize is -1", {
                _ = try StreamProcessor<String, Int>(conveyor: conveyor, chunkSize: -1, size: { $0.utf8.count }) { $0.count }
            }),
        ]
        for (phrase, make) in cases {
            #expect {
                try make()
            } throws: { error in
                guard case .invalidConfiguration(let reason) = error as? ConveyorError else { return false }
                return reason.contains(phrase)
            }
        }
        _ = try StreamProcessor<Int, Int>(conveyor: conveyor, memoryLimit: 8_000) { $0 }  // exactly one chunk fits
        await conveyor.shutdown()
    }

    @Test("A chunk larger than memoryLimit and a negative size end the stream with a typed error")
    func runtimeSizes() async throws {
        let conveyor = try makeConveyor()
        let big = try StreamProcessor<String, Int>(conveyor: conveyor, chunkSize: 4, memoryLimit: 10, size: { $0.utf8.count }) { $0.count }
        var seen: [Int] = []
        await #expect {
            for try await value in big.process(GeneratedInput(count: 100, failAt: nil, reads: Tally()) { $0 < 8 ? "a" : "abcd" }) {
                seen.append(value)
            }
        } throws: { error in
            guard case .invalidConfiguration(let reason) = error as? ConveyorError else { return false }
            return reason.contains("over memoryLimit 10")
        }
        #expect(seen.allSatisfy { $0 == 1 } && seen.count <= 8)
        let negative = try StreamProcessor<Int, Int>(conveyor: conveyor, chunkSize: 4, size: { $0 == 5 ? -1 : 1 }) { $0 }
        await #expect {
            for try await _ in negative.process(GeneratedInput(count: 100, failAt: nil, reads: Tally()) { $0 }) {}
        } throws: { error in
            "\(error)".contains("returned -1")
        }
        await conveyor.shutdown()
    }
}

@Suite("StreamProcessor: results, order, errors, memory")
struct StreamBehaviourTests {
    @Test("Ordered results equal the input mapped in order, over many chunks")
    func ordered() async throws {
        let conveyor = try makeConveyor()
        let profiler = try PerformanceProfiler()
        let processor = try StreamProcessor<Int, Int>(conveyor: conveyor, chunkSize: 100, profiler: profiler, name: "squares") {
            $0 * $0
        }
        let count = 10_050
        var results: [Int] = []
        for try await value in processor.process(GeneratedInput(count: count, failAt: nil, reads: Tally()) { $0 }) {
            results.append(value)
        }
        #expect(results == (0..<count).map { $0 * $0 })
        let stats = processor.statistics
        #expect(stats.elements == count && stats.chunks == 101 && stats.completedChunks == 101)
        #expect(stats.bytesInFlight == 0)
        #expect(try profiler.summary(for: "squares.chunk").calls == 101)
        await conveyor.shutdown()
    }

    @Test("Unordered results are the same multiset")
    func unordered() async throws {
        let conveyor = try makeConveyor()
        let processor = try StreamProcessor<Int, Int>(conveyor: conveyor, chunkSize: 64, ordered: false) { $0 + 1 }
        var results: [Int] = []
        for try await value in processor.process(GeneratedInput(count: 5_000, failAt: nil, reads: Tally()) { $0 }) {
            results.append(value)
        }
        #expect(results.sorted() == Array(1...5_000))
        await conveyor.shutdown()
    }

    @Test("An input that throws ends the output with its error after every element read before it")
    func inputError() async throws {
        let conveyor = try makeConveyor()
        let processor = try StreamProcessor<Int, Int>(conveyor: conveyor, chunkSize: 10) { $0 }
        var results: [Int] = []
        await #expect(throws: CacheBoom(code: 99)) {
            for try await value in processor.process(GeneratedInput(count: 1_000, failAt: 345, reads: Tally()) { $0 }) {
                results.append(value)
            }
        }
        #expect(results == Array(0..<345))
        await conveyor.shutdown()
    }

    @Test("A transform that throws ends the stream; nothing more is read or run after the end")
    func transformError() async throws {
        let conveyor = try makeConveyor()
        let calls = Tally()
        let reads = Tally()
        let processor = try StreamProcessor<Int, Int>(conveyor: conveyor, chunkSize: 10, maxChunksInFlight: 4) { value in
            calls.increment()
            if value == 505 { throw CacheBoom(code: 5) }
            return value
        }
        var results: [Int] = []
        await #expect(throws: CacheBoom(code: 5)) {
            for try await value in processor.process(GeneratedInput(count: 100_000, failAt: nil, reads: reads) { $0 }) {
                results.append(value)
            }
        }
        #expect(results.count <= 500 && results == Array(0..<results.count))
        // Chunks already on a worker finish; then nothing runs and nothing is read.
        #expect(await eventuallyAsync { processor.statistics.completedChunks == processor.statistics.chunks })
        let (callsAtEnd, readsAtEnd) = (calls.count, reads.count)
        try await Task.sleep(for: .milliseconds(50))
        #expect(calls.count == callsAtEnd && reads.count == readsAtEnd)
        #expect(readsAtEnd < 1_000)
        #expect(processor.statistics.bytesInFlight == 0)
        await conveyor.shutdown()
    }

    @Test("Objects alive stay within memoryLimit plus one chunk on an input 50× the limit (slow consumer)")
    func memoryBound() async throws {
        let conveyor = try makeConveyor()
        let tracker = LiveObjects()
        let elementBytes = 1_000
        let chunkSize = 5
        let memoryLimit = 10 * elementBytes  // 10 inputs
        let processor = try StreamProcessor<Blob, Int>(
            conveyor: conveyor, chunkSize: chunkSize, memoryLimit: memoryLimit, size: { _ in elementBytes }
        ) { $0.index }
        let count = 50 * 10
        var next = 0
        for try await value in processor.process(GeneratedInput(count: count, failAt: nil, reads: Tally()) { Blob($0, tracker: tracker) }) {
            #expect(value == next)
            next += 1
            if next % 7 == 0 { try await Task.sleep(for: .microseconds(200)) }
        }
        #expect(next == count)
        // Measured by the objects themselves: what chunks in flight hold (≤ the limit) plus the
        // chunk being gathered.
        #expect(tracker.maximum <= memoryLimit / elementBytes + chunkSize)
        #expect(tracker.maximum >= memoryLimit / elementBytes)  // the limit is used, not just obeyed
        #expect(await eventuallyAsync { tracker.count == 0 })
        await conveyor.shutdown()
    }

    @Test("Cancelling the consumer stops the input and releases everything in flight")
    func cancellation() async throws {
        let conveyor = try makeConveyor()
        let tracker = LiveObjects()
        let reads = Tally()
        let processor = try StreamProcessor<Blob, Int>(conveyor: conveyor, chunkSize: 8, memoryLimit: 64, size: { _ in 1 }) { $0.index }
        let taken = Tally()
        let consumer = Task {
            for try await _ in processor.process(GeneratedInput(count: 1_000_000, failAt: nil, reads: reads) { Blob($0, tracker: tracker) }) {
                if taken.increment() == 100 { withUnsafeCurrentTask { $0?.cancel() } }
                await Task.yield()
            }
        }
        await #expect(throws: CancellationError.self) { try await consumer.value }
        #expect(await eventuallyAsync { tracker.count == 0 })
        let readsAtEnd = reads.count
        try await Task.sleep(for: .milliseconds(30))
        #expect(reads.count == readsAtEnd && readsAtEnd < 1_000)
        #expect(processor.statistics.bytesInFlight == 0)
        await conveyor.shutdown()
    }

    @Test("Leaving the loop early (dropping the iterator) ends the stream and frees what it held")
    func earlyExit() async throws {
        let conveyor = try makeConveyor()
        let tracker = LiveObjects()
        let reads = Tally()
        let processor = try StreamProcessor<Blob, Int>(conveyor: conveyor, chunkSize: 8, memoryLimit: 64, size: { _ in 1 }) { $0.index }
        var taken = 0
        for try await _ in processor.process(GeneratedInput(count: 1_000_000, failAt: nil, reads: reads) { Blob($0, tracker: tracker) }) {
            taken += 1
            if taken == 50 { break }
        }
        #expect(await eventuallyAsync { tracker.count == 0 })
        let readsAtEnd = reads.count
        try await Task.sleep(for: .milliseconds(30))
        #expect(reads.count == readsAtEnd && readsAtEnd < 1_000)
        let results = processor.process(GeneratedInput(count: 3, failAt: nil, reads: Tally()) { Blob($0, tracker: tracker) })
        var first = results.makeAsyncIterator()
        var second = results.makeAsyncIterator()
        #expect(try await second.next() == nil)  // one iteration per stream
        #expect(try await first.next() == 0)
        await conveyor.shutdown()
    }

    @Test("Several streams at once on one processor, each complete and ordered")
    func concurrentStreams() async throws {
        let conveyor = try makeConveyor()
        let processor = try StreamProcessor<Int, Int>(conveyor: conveyor, chunkSize: 50, memoryLimit: 4_000) { $0 * 2 }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for stream in 0..<4 {
                group.addTask {
                    let count = 2_000 + stream * 111
                    var results: [Int] = []
                    for try await value in processor.process(GeneratedInput(count: count, failAt: nil, reads: Tally()) { $0 }) {
                        results.append(value)
                    }
                    return results == (0..<count).map { $0 * 2 }
                }
            }
            for try await correct in group { #expect(correct) }
        }
        #expect(processor.statistics.bytesInFlight == 0)
        // Each stream holds at most its limit, or one chunk alone when a chunk (its inputs plus
        // the stream's storage for it) is charged more than the limit.
        let chunk = 50 * MemoryLayout<Int>.stride + StreamProcessor<Int, Int>.storageBytes(forChunkOf: 50)
        #expect(processor.statistics.peakBytesInFlight <= 4 * max(4_000, chunk))
        await conveyor.shutdown()
    }
}
