import Foundation
import Synchronization
import Testing

// Recorders, the clock and the router's learning API are internal: the tests reach them here.
@testable import Conveyor

/// The rank-th smallest value for `percentile`, with the same rounding as the C core
/// (⌈percentile/100 · count⌉, at least 1).
private func rank(of percentile: Double, count: Int) -> Int {
    let exact = percentile / 100 * Double(count)
    var rank = exact >= Double(count) ? count : Int(exact)
    if Double(rank) < exact { rank += 1 }
    return Swift.max(rank, 1)
}

/// A reported percentile must not understate and must exceed the true value by less than
/// the stated relative precision (exact below 256 ns).
private func expectWithinPrecision(
    _ reported: UInt64, trueValue: UInt64, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(reported >= trueValue, "\(what): \(reported) understates \(trueValue)", sourceLocation: sourceLocation)
    let bound = Double(trueValue) * (1 + LatencyHistogram.relativePrecision)
    #expect(
        reported == trueValue || Double(reported) < bound,
        "\(what): \(reported) is more than 1/128 above \(trueValue)", sourceLocation: sourceLocation)
}

private let percentilesChecked: [Double] = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100]

/// Deterministic log-normal-ish latencies: median 50 µs, σ = 1.2 (spans ~100 ns … ~20 ms).
private func logNormalValues(count: Int, seed: UInt64) -> [UInt64] {
    var random = SplitMix64(state: seed)
    func unit() -> Double { (Double(random.next() >> 11) + 0.5) * 0x1p-53 }  // (0, 1)
    return (0..<count).map { _ in
        let normal = (-2 * Foundation.log(unit())).squareRoot() * Foundation.cos(2 * Double.pi * unit())
        return UInt64(Foundation.exp(Foundation.log(50_000.0) + 1.2 * normal))
    }
}

@Suite("Recorders and latency histograms")
struct RecorderTests {
    // MARK: Bucket layout

    @Test("Buckets tile 0 … limit without gaps, each within 1/128 of its values")
    func bucketBoundaries() {
        var value: UInt64 = 0
        var buckets = 0
        while value < LatencyHistogram.limit {
            let range = LatencyHistogram.bucketRange(containing: value)
            #expect(range.lowerBound == value, "bucket of \(value) starts at \(range.lowerBound)")
            #expect(LatencyHistogram.bucketRange(containing: range.upperBound) == range)
            let width = range.upperBound - range.lowerBound + 1
            if value < 256 {
                #expect(width == 1, "values below 256 ns are exact")
            } else {
                #expect(Double(width) <= Double(range.lowerBound) * LatencyHistogram.relativePrecision)
            }
            value = range.upperBound + 1
            buckets += 1
        }
        #expect(value == LatencyHistogram.limit)
        #expect(buckets == 4_736)
        #expect(LatencyHistogram.bucketRange(containing: LatencyHistogram.limit) == LatencyHistogram.limit...UInt64.max)
        #expect(LatencyHistogram.bucketRange(containing: .max) == LatencyHistogram.limit...UInt64.max)
        // Powers of two start a bucket; the limit covers more than an hour.
        for exponent in 8..<43 {
            #expect(LatencyHistogram.bucketRange(containing: 1 << exponent).lowerBound == 1 << exponent)
        }
        #expect(LatencyHistogram.limit > 3_600 * 1_000_000_000)
    }

    @Test("Zero, huge values and overflow")
    func extremes() throws {
        let set = try RecorderSet(layout: .tasks, capacity: 1)
        let recorder = try set.makeRecorder()
        let values: [UInt64] = [0, 1, 255, 256, LatencyHistogram.limit - 1, LatencyHistogram.limit, .max]
        for value in values { recorder.record(value, in: RecorderLayout.Tasks.service) }
        let histogram = set.histogram(RecorderLayout.Tasks.service)
        #expect(histogram.count == 7)
        #expect(histogram.overflowCount == 2)
        #expect(histogram.min == 0)
        #expect(histogram.max == .max)
        #expect(histogram.sum == .max, "the sum saturates")
        #expect(histogram.percentile(0) == 0)
        #expect(histogram.percentile(100) == .max)
        #expect(histogram.p50 == 257)  // 4th of 7; 256 shares a bucket with 257, the highest is reported
        let nearLimit = histogram.percentile(100.0 * 5 / 7)
        #expect(LatencyHistogram.bucketRange(containing: LatencyHistogram.limit - 1).contains(nearLimit))
        #expect(histogram.percentile(100.0 * 6 / 7) == .max, "overflowed values report as the maximum")
        #expect(set.histogram(RecorderLayout.Tasks.queueWait).isEmpty)
        #expect(set.histogram(RecorderLayout.Tasks.queueWait).p99 == 0)

        // The Swift-side recorder agrees with the C one.
        var local = LatencyHistogram()
        for value in values { local.record(value) }
        #expect(local == histogram)
    }

    // MARK: Percentiles against known distributions

    @Test("Uniform 1 … 10⁶: percentiles within the stated precision, exact mean")
    func uniformPercentiles() throws {
        let set = try RecorderSet(capacity: 1)
        let recorder = try set.makeRecorder()
        let count = 1_000_000
        for value in 1...UInt64(count) { recorder.record(value, in: RecorderLayout.Tasks.queueWait) }
        let histogram = set.histogram(RecorderLayout.Tasks.queueWait)
        #expect(histogram.count == UInt64(count))
        #expect(histogram.min == 1)
        #expect(histogram.max == UInt64(count))
        #expect(histogram.mean == Double(count + 1) / 2)
        #expect(histogram.overflowCount == 0)
        for percentile in percentilesChecked {
            // The rank-th smallest of 1…N is rank itself.
            let trueValue = UInt64(rank(of: percentile, count: count))
            expectWithinPrecision(histogram.percentile(percentile), trueValue: trueValue, "p\(percentile)")
        }
        expectWithinPrecision(histogram.p999, trueValue: 999_000, "p99.9")
    }

    @Test("Log-normal latencies: percentiles within the stated precision")
    func logNormalPercentiles() throws {
        let values = logNormalValues(count: StressScale.scaled(200_000, minimum: 50_000), seed: 42)
        let set = try RecorderSet(capacity: 1)
        let recorder = try set.makeRecorder()
        for value in values { recorder.record(value, in: RecorderLayout.Tasks.service) }
        let histogram = set.histogram(RecorderLayout.Tasks.service)
        let sorted = values.sorted()
        #expect(histogram.count == UInt64(values.count))
        #expect(histogram.min == sorted.first)
        #expect(histogram.max == sorted.last)
        #expect(histogram.sum == values.reduce(0, +))
        #expect(sorted.first! < 1_000 && sorted.last! > 5_000_000, "the sample spans many octaves")
        for percentile in percentilesChecked {
            let trueValue = sorted[rank(of: percentile, count: sorted.count) - 1]
            expectWithinPrecision(histogram.percentile(percentile), trueValue: trueValue, "p\(percentile)")
        }
    }

    // MARK: Merging

    @Test("Several recorders merged equal one recorder fed everything")
    func mergeEqualsSingle() throws {
        let values = logNormalValues(count: 100_000, seed: 7)
        let split = try RecorderSet(capacity: 4)
        let recorders = try (0..<4).map { _ in try split.makeRecorder() }
        let single = try RecorderSet(capacity: 1)
        let all = try single.makeRecorder()
        for (index, value) in values.enumerated() {
            let recorder = recorders[index % 4]
            recorder.record(value, in: RecorderLayout.Tasks.service)
            recorder.record(value / 3, in: RecorderLayout.Tasks.queueWait)
            recorder.increment(RecorderLayout.Tasks.completed)
            recorder.increment(RecorderLayout.Tasks.submitted, by: 2)
            all.record(value, in: RecorderLayout.Tasks.service)
            all.record(value / 3, in: RecorderLayout.Tasks.queueWait)
            all.increment(RecorderLayout.Tasks.completed)
            all.increment(RecorderLayout.Tasks.submitted, by: 2)
        }
        #expect(split.recorderCount == 4)
        #expect(split.snapshot() == single.snapshot())
        #expect(split.counter(RecorderLayout.Tasks.submitted) == UInt64(2 * values.count))
        #expect(split.counter(named: "completed") == UInt64(values.count))
        #expect(split.counter(named: "nope") == nil)

        // Merging per-recorder snapshots by hand gives the same histogram.
        let byHand = recorders.map { $0.histogram(RecorderLayout.Tasks.service) }
            .reduce(LatencyHistogram()) { $0.merging($1) }
        #expect(byHand == single.histogram(named: "service"))
        #expect(recorders[0].counter(RecorderLayout.Tasks.completed) == UInt64(values.count / 4))
    }

    @Test("An interval is the difference of two snapshots")
    func intervals() throws {
        let set = try RecorderSet(capacity: 1)
        let recorder = try set.makeRecorder()
        for value in logNormalValues(count: 10_000, seed: 1) { recorder.record(value, in: 0) }
        recorder.increment(RecorderLayout.Tasks.completed, by: 10_000)
        let before = set.snapshot()
        var expected = LatencyHistogram()
        for value in logNormalValues(count: 5_000, seed: 2) {
            recorder.record(value, in: 0)
            expected.record(value)
        }
        recorder.increment(RecorderLayout.Tasks.completed, by: 5_000)
        let interval = set.snapshot().subtracting(before)
        let histogram = try #require(interval.histogram(named: "queueWait"))
        #expect(interval.counter(named: "completed") == 5_000)
        #expect(histogram.count == expected.count)
        #expect(histogram.sum == expected.sum)
        #expect(histogram.nonEmptyBuckets.map(\.count) == expected.nonEmptyBuckets.map(\.count))
        #expect(histogram.nonEmptyBuckets.map(\.values) == expected.nonEmptyBuckets.map(\.values))
        for percentile in [50.0, 99, 99.9] {
            let trueValue = expected.percentile(percentile)
            #expect(LatencyHistogram.bucketRange(containing: trueValue).contains(histogram.percentile(percentile)))
        }
        #expect(LatencyHistogram.bucketRange(containing: expected.min).contains(histogram.min))
        #expect(LatencyHistogram.bucketRange(containing: expected.max).contains(histogram.max))
    }

    // MARK: Recorder sets

    @Test("Released recorders keep their statistics and are reused; capacity is enforced")
    func reuseAndCapacity() throws {
        let set = try RecorderSet(capacity: 2)
        do {
            let first = try set.makeRecorder()
            first.increment(RecorderLayout.Tasks.failed, by: 3)
            first.record(1_000, in: RecorderLayout.Tasks.service)
        }
        #expect(set.recorderCount == 1)
        #expect(set.counter(RecorderLayout.Tasks.failed) == 3, "a released recorder stays in the totals")
        let second = try set.makeRecorder()
        let third = try set.makeRecorder()
        #expect(set.recorderCount == 2, "the released recorder was reused")
        #expect(second.counter(RecorderLayout.Tasks.failed) + third.counter(RecorderLayout.Tasks.failed) == 3)
        #expect {
            _ = try set.makeRecorder()
        } throws: { error in
            guard case ConveyorError.limitReached(let reason) = error else { return false }
            return reason.contains("larger capacity")
        }
        second.record(2_000, in: RecorderLayout.Tasks.service)
        third.record(3_000, in: RecorderLayout.Tasks.service)
        let service = set.histogram(RecorderLayout.Tasks.service)
        #expect(service.count == 3)
        #expect(service.min == 1_000 && service.max == 3_000)
        #expect(throws: ConveyorError.self) { try RecorderSet(capacity: 0) }
        #expect(throws: ConveyorError.self) { try RecorderSet(capacity: 5_000) }
    }

    @Test("Layouts: names, limits, duplicates")
    func layouts() throws {
        let tasks = RecorderLayout.tasks
        #expect(tasks.histograms[RecorderLayout.Tasks.queueWait] == "queueWait")
        #expect(tasks.histograms[RecorderLayout.Tasks.service] == "service")
        #expect(tasks.counters[RecorderLayout.Tasks.expired] == "expired")
        #expect(tasks.counterIndex(named: "cancelled") == RecorderLayout.Tasks.cancelled)
        let custom = try RecorderLayout(histograms: ["a"], counters: (0..<32).map { "c\($0)" })
        let set = try RecorderSet(layout: custom, capacity: 1)
        let recorder = try set.makeRecorder()
        recorder.increment(31, by: 9)
        #expect(set.counter(named: "c31") == 9)
        #expect(throws: ConveyorError.self) { try RecorderLayout(histograms: (0..<9).map { "h\($0)" }, counters: []) }
        #expect(throws: ConveyorError.self) { try RecorderLayout(histograms: [], counters: (0..<33).map { "c\($0)" }) }
        #expect(throws: ConveyorError.self) { try RecorderLayout(histograms: ["x", "x"], counters: []) }
    }

    @Test("Timing: off, every task, sampled")
    func timing() throws {
        let set = try RecorderSet(capacity: 1)
        let recorder = try set.makeRecorder()
        #expect(set.timing == .everyTask)
        #expect((0..<100).allSatisfy { _ in recorder.shouldTime() })
        set.timing = .off
        #expect(!set.isTimingEnabled)
        #expect((0..<100).allSatisfy { _ in !recorder.shouldTime() })
        set.timing = .sampled(oneIn: 4)
        #expect(set.isTimingEnabled)
        #expect((0..<100).count(where: { _ in recorder.shouldTime() }) == 25)
        set.timing = .sampled(oneIn: 3)
        #expect(set.timing == .sampled(oneIn: 4), "rounded up to a power of two")
    }

    // MARK: Concurrency

    @Test("Concurrent writers, each with its own recorder, and a reader snapshotting meanwhile")
    func concurrentWritersAndReader() throws {
        let writers = 4
        let perWriter = StressScale.scaled(1_000_000, minimum: 20_000)
        let set = try RecorderSet(capacity: writers)
        let finished = Atomic<Int>(0)
        let snapshots = SharedCounter()
        let violations = SharedCounter()
        runOnThreads(writers + 1) { thread in
            if thread < writers {
                do {
                    let recorder = try set.makeRecorder()
                    var random = SplitMix64(state: UInt64(thread + 100))
                    for _ in 0..<perWriter {
                        let value = random.next() >> (random.next() & 63)  // every magnitude
                        recorder.record(value, in: RecorderLayout.Tasks.service)
                        recorder.record(value & 0xFFFF, in: RecorderLayout.Tasks.queueWait)
                        recorder.increment(RecorderLayout.Tasks.completed)
                    }
                } catch {
                    violations.add(1_000_000)
                }
                finished.add(1, ordering: .releasing)
            } else {
                var lastCount: UInt64 = 0
                var lastCompleted: UInt64 = 0
                var lastQueueCount: UInt64 = 0
                while finished.load(ordering: .acquiring) < writers {
                    let service = set.histogram(RecorderLayout.Tasks.service)
                    let queue = set.histogram(RecorderLayout.Tasks.queueWait)
                    let completed = set.counter(RecorderLayout.Tasks.completed)
                    if service.count < lastCount || queue.count < lastQueueCount || completed < lastCompleted {
                        violations.add(1)
                    }
                    if service.count > 0 {
                        let p99 = service.p99
                        if p99 < service.min || p99 > service.max { violations.add(1) }
                    }
                    if service.count > UInt64(writers * perWriter) { violations.add(1) }
                    lastCount = service.count
                    lastQueueCount = queue.count
                    lastCompleted = completed
                    snapshots.add(1)
                }
            }
        }
        #expect(violations.current == 0)
        #expect(snapshots.current > 0)
        // Final totals are exact: compare with the same values recorded on one thread.
        var expected = LatencyHistogram()
        for thread in 0..<writers {
            var random = SplitMix64(state: UInt64(thread + 100))
            for _ in 0..<perWriter { expected.record(random.next() >> (random.next() & 63)) }
        }
        let service = set.histogram(RecorderLayout.Tasks.service)
        #expect(service == expected)
        #expect(set.histogram(RecorderLayout.Tasks.queueWait).count == UInt64(writers * perWriter))
        #expect(set.counter(RecorderLayout.Tasks.completed) == UInt64(writers * perWriter))
        #expect(set.recorderCount <= writers)
    }

    // MARK: Clock

    @Test("The clock reports its source and rate")
    func clockSource() {
        let source = MonotonicClock.initialize()
        #expect(MonotonicClock.source == source)
        #expect(MonotonicClock.initialize() == source, "initialization is idempotent")
        let forced = ProcessInfo.processInfo.environment["CONVEYOR_CLOCK"] == "monotonic"
        #if arch(x86_64)
            if MonotonicClock.cpuHasInvariantTimeStampCounter && !forced {
                #expect(source == .timeStampCounter)
            }
        #endif
        if !MonotonicClock.cpuHasInvariantTimeStampCounter || forced {
            #expect(source == .monotonic)
        }
        switch source {
        case .monotonic: #expect(MonotonicClock.ticksPerSecond == 1_000_000_000)
        case .timeStampCounter: #expect(MonotonicClock.ticksPerSecond > 10_000_000)
        }
    }

    @Test("Ticks never go backwards on one thread; intervals clamp at zero")
    func ticksMonotonic() {
        var previous = MonotonicClock.ticks()
        var backwards = 0
        for _ in 0..<StressScale.scaled(1_000_000) {
            let now = MonotonicClock.ticks()
            if now < previous { backwards += 1 }
            previous = now
        }
        #expect(backwards == 0)
        let early = MonotonicClock.ticks()
        let late = MonotonicClock.ticks() + 1_000
        #expect(MonotonicClock.nanoseconds(from: late, to: early) == 0)
        #expect(MonotonicClock.nanoseconds(fromTicks: 0) == 0)
    }

    @Test("Tick conversion agrees with the system clocks over a 50 ms sleep")
    func ticksMatchSystemClock() {
        MonotonicClock.initialize()
        let clock = ContinuousClock()
        let startTicks = MonotonicClock.ticks()
        let startInstant = clock.now
        let startNow = MonotonicClock.nowNanoseconds()
        var startSystem = timespec()
        clock_gettime(CLOCK_MONOTONIC, &startSystem)
        usleep(50_000)
        let endTicks = MonotonicClock.ticks()
        let endInstant = clock.now
        let endNow = MonotonicClock.nowNanoseconds()
        let measured = Double(MonotonicClock.nanoseconds(from: startTicks, to: endTicks))
        let reference = Double(startInstant.duration(to: endInstant) / .nanoseconds(1))
        #expect(reference >= 50_000_000)
        #expect(abs(measured - reference) < 0.05 * reference, "ticks say \(measured) ns, ContinuousClock \(reference) ns")
        #expect(MonotonicClock.duration(fromTicks: endTicks - startTicks) > .milliseconds(45))
        // nowNanoseconds lives on CLOCK_MONOTONIC's time line.
        let system = UInt64(startSystem.tv_sec) * 1_000_000_000 + UInt64(startSystem.tv_nsec)
        let offset = abs(Double(startNow) - Double(system))
        #expect(offset < 5_000_000, "nowNanoseconds is \(offset) ns away from CLOCK_MONOTONIC")
        #expect(endNow > startNow)
    }
}
