// conveyor-concurrencybench: Conveyor's Swift Concurrency paths against the Swift runtime's
// own, every ratio against a peer measured in the same process, in interleaved runs; the
// figure is the median of the runs (issue 11's aims table).
//
//   conveyor-concurrencybench [--runs 5] [--only fanout,window,serial,async] [--tasks 100000]
//
// Rows:
//   fanout  100 k child tasks of one TaskGroup, all in flight, each `try await conveyor.run { i }`,
//           against the same TaskGroup whose children return `i` (aim ≥ 0.5×).
//   window  the same with at most 64 children in flight (aim ≥ 0.8×).
//   serial  one `await run {}` at a time: p50 of the round trip (aim ≤ 4 µs).
//           Also split: p50 of submit → worker start (the result's queue wait) and of the rest,
//           and the same loop off the main actor (in a detached task).
//   async   async handlers (`register { payload async in await Task.yield() }`) in a group of
//           limit 64, against the same work in a `withDiscardingTaskGroup` (aim ≥ 0.5×).
import BenchSupport
import Conveyor
import Foundation
import Synchronization

struct Options {
    var runs = 5
    var only: Set<String> = ["fanout", "window", "serial", "async"]
    var tasks = 100_000
    var window = 64
    /// Measure only Conveyor's side (for `strace -c`: system calls per task without the peers').
    var peers = true

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--runs": self.runs = Int(iterator.next() ?? "") ?? self.runs
            case "--only": self.only = Set((iterator.next() ?? "").split(separator: ",").map(String.init))
            case "--tasks": self.tasks = Int(iterator.next() ?? "") ?? self.tasks
            case "--window": self.window = Int(iterator.next() ?? "") ?? self.window
            case "--no-peers": self.peers = false
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

struct Yield: BitwiseCopyable, Sendable { var id: UInt64 }

final class Countdown: Sendable {
    let remaining = Atomic<Int>(0)
}

/// Nanoseconds per task for `count` children of one TaskGroup, all in flight.
func fanout(_ count: Int, _ child: @escaping @Sendable (Int) async throws -> Int) async throws -> Double {
    let start = nowNanoseconds()
    let sum = try await withThrowingTaskGroup(of: Int.self) { group in
        for index in 0..<count { group.addTask { try await child(index) } }
        var sum = 0
        for try await value in group { sum &+= value }
        return sum
    }
    precondition(sum == count * (count - 1) / 2, "lost a result")
    return Double(nowNanoseconds() - start) / Double(count)
}

/// The same with at most `window` children in flight.
func windowed(_ count: Int, _ window: Int, _ child: @escaping @Sendable (Int) async throws -> Int) async throws -> Double {
    let start = nowNanoseconds()
    let sum = try await withThrowingTaskGroup(of: Int.self) { group in
        var next = 0
        while next < min(window, count) {
            let index = next
            group.addTask { try await child(index) }
            next += 1
        }
        var sum = 0
        for try await value in group {
            sum &+= value
            if next < count {
                let index = next
                group.addTask { try await child(index) }
                next += 1
            }
        }
        return sum
    }
    precondition(sum == count * (count - 1) / 2, "lost a result")
    return Double(nowNanoseconds() - start) / Double(count)
}

@main
struct ConcurrencyBench {
    static func main() async throws {
        let options = Options(CommandLine.arguments)
        print(machineDescription(revision: gitRevision()))
        print("load average at start: \(firstLine(of: "/proc/loadavg") ?? "?")")
        let conveyor = try Conveyor(groups: [
            ResourceGroup("run", minWorkers: 1, capacity: 1 << 17, priorityLevels: 1),
            ResourceGroup("async", minWorkers: 1, capacity: 1 << 17, priorityLevels: 1, asyncLimit: 64),
        ])
        // The async row's handlers count down; the last one of a run finishes the stream.
        let countdown = Countdown()
        let (finished, finish) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .unbounded)
        let yielding = try conveyor.register("yield", payload: Yield.self) { (_: Yield) async in
            await Task.yield()
            if countdown.remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { finish.yield(()) }
        }
        var finishedRuns = finished.makeAsyncIterator()
        let runTask = QueueTask(group: "run")
        var rows: [String: [Double]] = [:]
        let tasks = options.tasks
        for round in 1...options.runs {
            FileHandle.standardError.write(Data("run \(round)/\(options.runs)…\n".utf8))
            if options.only.contains("fanout") {
                if options.peers { rows["fanout plain", default: []].append(try await fanout(tasks) { $0 }) }
                rows["fanout run", default: []].append(
                    try await fanout(tasks) { index in try await conveyor.run(runTask) { index }.value })
            }
            if options.only.contains("window") {
                if options.peers { rows["window plain", default: []].append(try await windowed(tasks, options.window) { $0 }) }
                rows["window run", default: []].append(
                    try await windowed(tasks, options.window) { index in try await conveyor.run(runTask) { index }.value })
            }
            if options.only.contains("serial") {
                var samples: [UInt64] = []
                // Where a round trip goes: submit → the worker starts it (the result's queue
                // wait), and the rest (the caller's own work before the submit, the body, and
                // the worker's resume → the caller running again).
                var waits: [UInt64] = []
                var rests: [UInt64] = []
                samples.reserveCapacity(tasks / 10)
                waits.reserveCapacity(tasks / 10)
                rests.reserveCapacity(tasks / 10)
                for index in 0..<(tasks / 10) {
                    let start = nowNanoseconds()
                    let result = try await conveyor.run(runTask) { index }
                    let total = nowNanoseconds() - start
                    samples.append(total)
                    let (seconds, attoseconds) = result.queueWait.components
                    let wait = UInt64(max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
                    waits.append(wait)
                    rests.append(total > wait ? total - wait : 0)
                    precondition(result.value == index)
                }
                rows["serial run p50", default: []].append(Percentiles(samples).p50)
                rows["serial queue wait p50", default: []].append(Percentiles(waits).p50)
                rows["serial rest p50", default: []].append(Percentiles(rests).p50)
                // The same loop off the main actor (a detached task on the cooperative pool), as
                // a server's request handler would call `run`.
                let count = tasks / 10
                let detached = try await Task.detached {
                    var samples: [UInt64] = []
                    samples.reserveCapacity(count)
                    for index in 0..<count {
                        let start = nowNanoseconds()
                        let value = try await conveyor.run(runTask) { index }.value
                        samples.append(nowNanoseconds() - start)
                        precondition(value == index)
                    }
                    return Percentiles(samples).p50
                }.value
                rows["serial detached p50", default: []].append(detached)
            }
            if options.only.contains("async") {
                // The peer: the same bodies, 64 at a time, in a discarding task group.
                let count = tasks
                if options.peers {
                    let start = nowNanoseconds()
                    await withDiscardingTaskGroup { group in
                        for _ in 0..<count { group.addTask { await Task.yield() } }
                    }
                    rows["async plain", default: []].append(Double(nowNanoseconds() - start) / Double(count))
                }
                countdown.remaining.store(count, ordering: .relaxed)
                let began = nowNanoseconds()
                var submitted = 0
                while submitted < count {
                    submitted += try conveyor.submit(yielding, contentsOf: (submitted..<count).lazy.map { Yield(id: UInt64($0)) })
                    if submitted < count { await Task.yield() }
                }
                _ = await finishedRuns.next()
                rows["async handlers", default: []].append(Double(nowNanoseconds() - began) / Double(count))
            }
        }
        func line(_ name: String, _ peer: String, _ aim: String) {
            guard let mine = rows[name] else { return }
            guard let theirs = rows[peer] else {
                print("\(name): \(fixed(median(mine) / 1000, 3)) µs/task (peer not measured)")
                return
            }
            let ratios = zip(mine, theirs).map { $1 / $0 }
            print(
                "\(name): \(fixed(median(mine) / 1000, 3)) µs/task (\(peer) \(fixed(median(theirs) / 1000, 3))); "
                    + "median ratio \(fixed(median(ratios), 3))× (runs: \(ratios.map { fixed($0, 3) }.joined(separator: ", "))); aim \(aim)")
        }
        line("fanout run", "fanout plain", "≥ 0.5×")
        line("window run", "window plain", "≥ 0.8×")
        line("async handlers", "async plain", "≥ 0.5×")
        if let serial = rows["serial run p50"] {
            print("serial run p50: \(fixed(median(serial) / 1000, 3)) µs (runs: \(serial.map { fixed($0 / 1000, 3) }.joined(separator: ", "))); aim ≤ 4 µs")
        }
        if let detached = rows["serial detached p50"] {
            print("serial run p50 off the main actor (a detached task): \(fixed(median(detached) / 1000, 3)) µs (runs: \(detached.map { fixed($0 / 1000, 3) }.joined(separator: ", ")))")
        }
        if let waits = rows["serial queue wait p50"], let rests = rows["serial rest p50"] {
            print(
                "serial split, medians of the runs' p50s: submit → worker start \(fixed(median(waits) / 1000, 3)) µs; "
                    + "the rest (caller's setup, body, resume → caller) \(fixed(median(rests) / 1000, 3)) µs")
        }
        await conveyor.shutdown(drain: true)
    }
}
