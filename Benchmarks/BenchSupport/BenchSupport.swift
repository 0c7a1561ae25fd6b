// Support for `conveyor-enginebench`: clock, threads, CPU time, percentiles, a seeded generator,
// and the machine description.
import ArgumentParser
import ConveyorReport
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds (the engine's clock too).
@inline(__always)
package func nowNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Sleeps until the monotonic clock reads `deadline` (nanoseconds).
package func sleep(untilNanoseconds deadline: UInt64) {
    var target = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
}

package func sleep(nanoseconds: UInt64) {
    sleep(untilNanoseconds: nowNanoseconds() &+ nanoseconds)
}

/// What every contender's handler does with its task: an opaque call the optimizer cannot remove.
@inline(never) @_optimize(none)
package func blackHole(_ value: UInt64) {}

/// User + system CPU time of the whole process, in nanoseconds.
package func processCPUNanoseconds() -> UInt64 {
    var usage = rusage()
    _ = getrusage(RUSAGE_SELF.rawValue, &usage)
    func nanoseconds(_ time: timeval) -> UInt64 {
        UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_usec) * 1_000
    }
    return nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime)
}

/// A mutable box handed across threads whose accesses the caller orders (a join, a
/// semaphore or a ring in between).
package final class Box<Value>: @unchecked Sendable {
    package var value: Value
    package init(_ value: Value) { self.value = value }
}

/// Runs `body` on the Swift concurrency pool and blocks the calling (non-pool) thread until
/// it returns. The bench command runs on the main thread, which is not part of the pool.
package func blockingAwait<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let result = Box<Value?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        result.value = await body()
        done.signal()
    }
    done.wait()
    return result.value!
}

/// An OS thread (pthread, joinable) running `body`.
package struct JoinableThread {
    private var thread = pthread_t()

    package init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let status = pthread_create(
            &self.thread, nil,
            { raw in
                Unmanaged<Box<@Sendable () -> Void>>.fromOpaque(raw!).takeRetainedValue().value()
                return nil
            }, box)
        precondition(status == 0, "pthread_create failed: \(status)")
    }

    package func join() {
        pthread_join(self.thread, nil)
    }
}

/// Samples written by handlers at distinct indices (no two handlers write the same slot),
/// read after every handler finished.
package struct SampleBuffer: @unchecked Sendable {
    package let base: UnsafeMutablePointer<UInt64>
    package let capacity: Int

    package init(capacity: Int) {
        self.capacity = capacity
        self.base = .allocate(capacity: capacity)
        self.base.initialize(repeating: 0, count: capacity)
    }

    @inline(__always)
    package func store(_ value: UInt64, at index: Int) { self.base[index] = value }

    package func copy(_ range: Range<Int>) -> [UInt64] {
        Array(UnsafeBufferPointer(start: self.base + range.lowerBound, count: range.count))
    }
}

/// Nearest-rank percentiles of a latency sample (nanoseconds).
package struct Percentiles: Codable, Sendable {
    package var p50: Double
    package var p99: Double
    package var p999: Double
    package var max: Double
    package var count: Int

    package init(_ samples: [UInt64]) {
        let sorted = samples.sorted()
        func rank(_ quantile: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let index = Int((quantile * Double(sorted.count)).rounded(.up)) - 1
            return Double(sorted[Swift.min(Swift.max(index, 0), sorted.count - 1)])
        }
        self.p50 = rank(0.5)
        self.p99 = rank(0.99)
        self.p999 = rank(0.999)
        self.max = Double(sorted.last ?? 0)
        self.count = sorted.count
    }
}

/// SplitMix64: a small seeded generator, so every run replays the same arrival pattern.
package struct SplitMix64: RandomNumberGenerator {
    package var state: UInt64

    package init(state: UInt64) { self.state = state }

    package mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    package mutating func unit() -> Double { Double(self.next() >> 11) * 0x1p-53 }
}

/// Poisson arrivals: `count` submit times (ns after the start) with exponential gaps of mean
/// 1/rate, from a seeded generator.
package func poissonSchedule(rate: Double, count: Int, seed: UInt64) -> [UInt64] {
    var generator = SplitMix64(state: seed)
    var schedule = [UInt64]()
    schedule.reserveCapacity(count)
    var time = 0.0
    let mean = 1e9 / rate
    for _ in 0..<count {
        time += -log1p(-generator.unit()) * mean
        schedule.append(UInt64(time))
    }
    return schedule
}

extension Array where Element == Double {
    /// Median (mean of the two middle values for an even count).
    package var median: Double {
        guard !self.isEmpty else { return .nan }
        let sorted = self.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

// MARK: Formatting

package func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "—" }
    return String(format: "%.\(decimals)f", value)
}

/// Three significant figures, at most.
package func significant(_ value: Double) -> String {
    guard value.isFinite else { return "—" }
    let magnitude = abs(value)
    if magnitude >= 100 { return fixed(value, 0) }
    if magnitude >= 10 { return fixed(value, 1) }
    if magnitude >= 1 { return fixed(value, 2) }
    return fixed(value, 3)
}

/// Nanoseconds as microseconds, three significant figures.
package func microseconds(_ nanoseconds: Double) -> String { significant(nanoseconds / 1000) }

package func ratio(_ value: Double) -> String { significant(value) + "×" }

package func rateText(_ perSecond: Double) -> String {
    if perSecond >= 999_500 { return significant(perSecond / 1e6) + " M/s" }
    if perSecond >= 1000 { return significant(perSecond / 1e3) + " k/s" }
    return significant(perSecond) + " /s"
}

package func printError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

// MARK: Machine

package func firstLine(of path: String, matching prefix: String = "") -> String? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
}

package func gitRevision() -> String {
    func git(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "--no-optional-locks"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (process.terminationStatus, text)
    }
    let revision = git(["rev-parse", "--short=12", "HEAD"])
    guard revision.status == 0, !revision.output.isEmpty else { return "unknown revision" }
    let dirty = git(["diff", "--quiet", "HEAD", "--"]).status == 1
    return revision.output + (dirty ? " + uncommitted changes" : "")
}

package func utcTimestamp() -> String { BenchDocument.timestamp() }

package func machineDescription() -> String {
    let cpu = firstLine(of: "/proc/cpuinfo", matching: "model name")
        .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? $0 }
        ?? "unknown CPU"
    let kernel = firstLine(of: "/proc/sys/kernel/osrelease") ?? "?"
    let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    let load = firstLine(of: "/proc/loadavg")?.split(separator: " ").first.map(String.init) ?? "?"
    #if DEBUG
    let build = "DEBUG build (numbers meaningless)"
    #else
    let build = "release build"
    #endif
    return "\(cpu), \(online) cores online; Linux \(kernel); Swift 6 \(build); git \(gitRevision()); "
        + "\(utcTimestamp()); load average \(load) at start"
}

/// Writes a command's output file, creating its directory; a failure names the path.
package func writeOutput(_ text: String, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    do {
        try text.write(to: url, atomically: true, encoding: .utf8)
    } catch {
        throw ValidationError("cannot write \(path): \(error.localizedDescription)")
    }
}

/// Writes `value` as pretty JSON with sorted keys (NaN and infinities as strings), the format
/// of every file the bench commands write.
package func writeJSON(_ value: some Encodable, to path: String) throws {
    try writeOutput(String(decoding: try BenchDocument.encoder.encode(value), as: UTF8.self), to: path)
}
