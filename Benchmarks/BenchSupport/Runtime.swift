// What every runner shares: the clock, sleeping, OS threads, CPU time, blocking on async work,
// output files.
import ArgumentParser
import ConveyorReport
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds (the engine's clock too).
@inlinable @inline(__always)
package func nowNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Sleeps until the monotonic clock reads `deadline` (nanoseconds).
@usableFromInline package func sleep(untilNanoseconds deadline: UInt64) {
    var target = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
}

@usableFromInline package func sleep(nanoseconds: UInt64) {
    sleep(untilNanoseconds: nowNanoseconds() &+ nanoseconds)
}

/// What every contender's handler does with its task: an opaque call the optimizer cannot remove.
@inline(never) @_optimize(none)
@usableFromInline package func blackHole(_ value: UInt64) {}

/// User + system CPU time of the whole process, in nanoseconds.
@usableFromInline package func processCPUNanoseconds() -> UInt64 {
    var usage = rusage()
    _ = getrusage(RUSAGE_SELF.rawValue, &usage)
    func nanoseconds(_ time: timeval) -> UInt64 {
        UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_usec) * 1_000
    }
    return nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime)
}

/// A mutable box handed across threads whose accesses the caller orders (a join, a
/// semaphore or a ring in between).
@usableFromInline package final class Box<Value>: @unchecked Sendable {
    @usableFromInline package var value: Value
    @usableFromInline package init(_ value: Value) { self.value = value }
}

/// Runs `body` on the Swift concurrency pool and blocks the calling (non-pool) thread until
/// it returns. The bench command runs on the main thread, which is not part of the pool.
@usableFromInline package func blockingAwait<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
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
@usableFromInline package struct JoinableThread {
    private var thread = pthread_t()

    @usableFromInline package init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let status = pthread_create(
            &self.thread, nil,
            { raw in
                Unmanaged<Box<@Sendable () -> Void>>.fromOpaque(raw!).takeRetainedValue().value()
                return nil
            }, box)
        precondition(status == 0, "pthread_create failed: \(status)")
    }

    @usableFromInline package func join() {
        pthread_join(self.thread, nil)
    }
}

/// Samples written by handlers at distinct indices (no two handlers write the same slot),
/// read after every handler finished.
@usableFromInline package struct SampleBuffer: @unchecked Sendable {
    @usableFromInline package let base: UnsafeMutablePointer<UInt64>
    @usableFromInline package let capacity: Int

    @usableFromInline package init(capacity: Int) {
        self.capacity = capacity
        self.base = .allocate(capacity: capacity)
        self.base.initialize(repeating: 0, count: capacity)
    }

    @inline(__always)
    @usableFromInline package func store(_ value: UInt64, at index: Int) { self.base[index] = value }

    @usableFromInline package func copy(_ range: Range<Int>) -> [UInt64] {
        Array(UnsafeBufferPointer(start: self.base + range.lowerBound, count: range.count))
    }
}

@usableFromInline package func printError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// Writes a command's output file, creating its directory; a failure names the path.
@usableFromInline package func writeOutput(_ text: String, to path: String) throws {
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
@usableFromInline package func writeJSON(_ value: some Encodable, to path: String) throws {
    try writeOutput(String(decoding: try BenchDocument.encoder.encode(value), as: UTF8.self), to: path)
}
