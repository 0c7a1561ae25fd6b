// conveyor-stress: a long exactly-once stress of the engine through its public API (issue 16).
//
//   swift run -c release --package-path Benchmarks conveyor-stress [--tasks N] [--producers N]
//       [--progress SECONDS] [--json FILE] [--markdown FILE]
//
// 3 resource groups ("spill": .spill with a PredictiveScaler sizing it; "wait": .wait, resized
// by hand every half second; "reject": .reject with a small ring, resized too), --producers
// submitting OS threads (default 4), and every path a user has: typed single tasks, bulk
// `submit(_:contentsOf:)`, closures, awaited `run` (a small share: each is a Swift task),
// cancelled tickets (cancelled at once, racing the workers), start deadlines that some tasks
// miss, batched tasks (`registerBatch`, some cancelled in their accumulator) and typed tasks
// whose handler throws. Every task carries its id (producer's range + sequence); a bitmap of
// one bit per id (SeenBitmap) is set exactly once per id by whoever settles it: the task when
// it runs, `onFailure` when its failure or missed deadline is reported (the id travels in the
// error or in the closure's kind name), the submitter when `cancel` returned true or when the
// submit was refused (`queueFull`: never accepted). At the end every bit must be set and none
// twice: 0 lost, 0 duplicated, or the exit status is 1.
import BenchSupport
import Conveyor
import ConveyorReport
import Foundation
import Synchronization

// MARK: Options

struct Options {
    var tasks = 10_000_000
    var producers = 4
    var progressSeconds = 10.0
    var jsonPath: String?
    var markdownPath: String?

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.makeIterator()
        func number(_ text: String?) -> Double? { text.flatMap { Double($0.replacingOccurrences(of: "_", with: "")) } }
        while let argument = iterator.next() {
            switch argument {
            case "--tasks":
                guard let value = number(iterator.next()), value >= 1, value <= 4e9 else { usage("--tasks takes a count from 1 to 4e9") }
                options.tasks = Int(value)
            case "--producers":
                guard let value = number(iterator.next()), value >= 1, value <= 64 else { usage("--producers takes 1 to 64") }
                options.producers = Int(value)
            case "--progress":
                guard let value = number(iterator.next()), value > 0 else { usage("--progress takes seconds > 0") }
                options.progressSeconds = value
            case "--json": options.jsonPath = iterator.next()
            case "--markdown": options.markdownPath = iterator.next()
            default: usage("unknown argument '\(argument)'")
            }
        }
        return options
    }

    static func usage(_ problem: String) -> Never {
        printError("conveyor-stress: \(problem)\n"
            + "usage: conveyor-stress [--tasks N] [--producers N] [--progress SECONDS] [--json FILE] [--markdown FILE]")
        exit(2)
    }
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let totalTasks = options.tasks

// MARK: The workload's pieces

/// A typed and batched task's payload: its id.
struct Item: BitwiseCopyable, Sendable { var id: UInt64 }

/// What a failing typed handler throws: the id, so `onFailure` can set the task's bit.
struct PlannedFailure: Error { var id: Int }

/// Ids whose typed handler throws (about 1 in 1,000).
@inline(__always) func failsOnPurpose(_ id: Int) -> Bool { id % 1_009 == 3 }

/// The kind of a closure task with a deadline: "d" and the id in hex (at most 15 bytes, so
/// the string is stored inline and costs no allocation); `onFailure` parses it back.
func deadlineKind(_ id: Int) -> String { "d" + String(id, radix: 16) }

let seen = SeenBitmap(bits: totalTasks)
let unexpected = Atomic<Int>(0)
let unexpectedText = Mutex<[String]>([])
func noteUnexpected(_ text: String) {
    unexpected.add(1, ordering: .relaxed)
    unexpectedText.withLock { if $0.count < 10 { $0.append(text) } }
}
let failuresReported = Atomic<Int>(0)
let expiredReported = Atomic<Int>(0)

let groupNames = ["spill", "wait", "reject"]
let conveyor = try Conveyor(
    configuration: .init(
        groups: [
            ResourceGroup("spill", minWorkers: 1, maxWorkers: 3, initialWorkers: 2, capacity: 1024, overflow: .spill(memoryLimit: 64 << 20)),
            ResourceGroup("wait", minWorkers: 1, maxWorkers: 3, initialWorkers: 2, capacity: 4096, overflow: .wait(timeout: .seconds(60))),
            ResourceGroup("reject", minWorkers: 1, maxWorkers: 2, capacity: 256, overflow: .reject),
        ],
        defaultGroup: "wait",
        routes: ["typed-spill": "spill", "typed-wait": "wait", "typed-reject": "reject"],
        timingSampleInterval: 16,
        onFailure: { failure in
            if let planned = failure.error as? PlannedFailure {
                failuresReported.add(1, ordering: .relaxed)
                seen.mark(planned.id, .failed)
            } else if case ConveyorError.deadlineExceeded(let kind) = failure.error, kind.first == "d",
                let id = Int(kind.dropFirst(), radix: 16)
            {
                expiredReported.add(1, ordering: .relaxed)
                seen.mark(id, .expired)
            } else {
                noteUnexpected("reported: \(failure)")
            }
        }))

let typedKinds = try groupNames.map { group in
    try conveyor.register("typed-\(group)", payload: Item.self) { item in
        let id = Int(item.id)
        if failsOnPurpose(id) { throw PlannedFailure(id: id) }
        seen.mark(id, .ran)
    }
}
let batched = try conveyor.registerBatch(
    "batched", payload: Item.self, options: BatchOptions(maxBatchSize: 64, maxWaitTime: .milliseconds(5), group: "spill")
) { items in
    for item in items { seen.mark(Int(item.id), .ran) }
}

var spillScaling = GroupScaling(group: "spill", minWorkers: 1, maxWorkers: 3)
spillScaling.interval = .milliseconds(500)
spillScaling.assumedServiceTime = .microseconds(1)
let scaler = try PredictiveScaler(conveyor: conveyor, groups: [spillScaling])
// Detached: top-level code is on the main actor, and the main thread blocks in runOnThreads below.
let scalerLoop = Task.detached { await scaler.run() }

// MARK: Producers

/// What one producer did, by path (summed at the end; ids, not calls, except `awaitedCalls`).
struct ProducerTally: Sendable {
    var typed = 0, bulk = 0, closures = 0, cancelAttempts = 0, cancelled = 0, deadline = 0, batched = 0, awaited = 0
    var refused = 0, ids = 0

    static func + (a: Self, b: Self) -> Self {
        Self(typed: a.typed + b.typed, bulk: a.bulk + b.bulk, closures: a.closures + b.closures,
             cancelAttempts: a.cancelAttempts + b.cancelAttempts, cancelled: a.cancelled + b.cancelled,
             deadline: a.deadline + b.deadline, batched: a.batched + b.batched, awaited: a.awaited + b.awaited,
             refused: a.refused + b.refused, ids: a.ids + b.ids)
    }
}

let awaitedInFlight = Atomic<Int>(0)
let awaitedWindow = 64
/// Ids the producers went through (each adds its count every 4,096 ids): the progress line.
let producedIds = Atomic<Int>(0)
let tallies = Mutex<[ProducerTally]>([])

/// A refusal the policy documents (queueFull): the task was never accepted.
func isRefusal(_ error: any Error) -> Bool {
    if case ConveyorError.queueFull = error { return true }
    return false
}

/// splitmix64: the path of each step, reproducible from the id.
@inline(__always) func mix(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

func produce(_ producer: Int) {
    let share = totalTasks / options.producers
    let first = producer * share
    let end = producer == options.producers - 1 ? totalTasks : first + share
    var tally = ProducerTally()
    var id = first
    var bulk = [Item](repeating: Item(id: 0), count: 16)
    var sinceProgress = 0
    func submitted(_ body: () throws -> Void) {
        do { try body() } catch { if isRefusal(error) { tally.refused += 1; seen.mark(id, .refused) } else { noteUnexpected("submit of \(id): \(error)") } }
    }
    while id < end {
        let roll = mix(UInt64(id))
        let path = Int(roll % 1000)
        let group = Int((roll >> 16) % 3)
        let kind = typedKinds[group]
        switch path {
        case 0..<60 where end - id >= 16:
            // Bulk: 16 ids in one call; those past the accepted count were refused.
            for offset in 0..<16 { bulk[offset] = Item(id: UInt64(id + offset)) }
            var accepted = 0
            do { accepted = try conveyor.submit(kind, contentsOf: bulk) } catch { noteUnexpected("bulk submit at \(id): \(error)") }
            for offset in accepted..<16 { seen.mark(id + offset, .refused) }
            tally.bulk += accepted
            tally.refused += 16 - accepted
            tally.ids += 16
            id += 16
            sinceProgress += 16
            if sinceProgress >= 4096 {
                producedIds.add(sinceProgress, ordering: .relaxed)
                sinceProgress = 0
            }
            continue
        case 60..<160:
            let captured = id
            submitted { try conveyor.submit(QueueTask(kind: "closure", group: groupNames[group])) { seen.mark(captured, .ran) } }
            tally.closures += 1
        case 160..<220:
            // Cancelled at once: a worker may have taken it already (then cancel is false and it runs).
            tally.cancelAttempts += 1
            do {
                let ticket = try conveyor.submit(kind, Item(id: UInt64(id)))
                if conveyor.cancel(ticket) { seen.mark(id, .cancelled); tally.cancelled += 1 }
            } catch {
                if isRefusal(error) { tally.refused += 1; seen.mark(id, .refused) } else { noteUnexpected("submit of \(id): \(error)") }
            }
        case 220..<250:
            // A start deadline from 20 µs to 5 ms: some are missed and reported by kind name.
            let captured = id
            let deadline = Duration.microseconds(20 + Int64((roll >> 32) % 5_000))
            submitted {
                try conveyor.submit(QueueTask(kind: deadlineKind(captured), group: groupNames[group == 2 ? 0 : group], deadline: deadline)) {
                    seen.mark(captured, .ran)
                }
            }
            tally.deadline += 1
        case 250..<550:
            do {
                let ticket = try conveyor.submit(batched, Item(id: UInt64(id)))
                tally.batched += 1
                // 1 in 30 cancelled in its accumulator (or too late: then it runs in its batch).
                if roll >> 40 % 30 == 0, conveyor.cancel(ticket) { seen.mark(id, .cancelled); tally.cancelled += 1 }
            } catch {
                if isRefusal(error) { tally.refused += 1; seen.mark(id, .refused) } else { noteUnexpected("batch submit of \(id): \(error)") }
            }
        case 550..<555 where awaitedInFlight.load(ordering: .relaxed) < awaitedWindow:
            awaitedInFlight.add(1, ordering: .relaxed)
            tally.awaited += 1
            let captured = id
            // Half with a 1 ms start deadline: a miss is thrown to this caller (not reported).
            let task = QueueTask(kind: "awaited", group: groupNames[group], deadline: roll & 1 == 0 ? nil : .milliseconds(1))
            Task {
                do {
                    let result = try await conveyor.run(task) { () -> Int in
                        seen.mark(captured, .ran)
                        return captured
                    }
                    if result.value != captured { noteUnexpected("run of \(captured) returned \(result.value)") }
                } catch ConveyorError.deadlineExceeded {
                    seen.mark(captured, .expired)
                } catch {
                    if isRefusal(error) { seen.mark(captured, .refused) } else { noteUnexpected("run of \(captured): \(error)") }
                }
                awaitedInFlight.subtract(1, ordering: .relaxed)
            }
        default:
            submitted { try conveyor.submit(kind, Item(id: UInt64(id))) }
            tally.typed += 1
        }
        tally.ids += 1
        id += 1
        sinceProgress += 1
        if sinceProgress >= 4096 {
            producedIds.add(sinceProgress, ordering: .relaxed)
            sinceProgress = 0
        }
    }
    producedIds.add(sinceProgress, ordering: .relaxed)
    let final = tally
    tallies.withLock { $0.append(final) }
}

// MARK: Resizer, monitor

let stop = Atomic<Bool>(false)
/// The resizer stops before the shutdown (a resize of a stopped engine throws shutDown).
let stopResizing = Atomic<Bool>(false)
let resizes = Atomic<Int>(0)
let peakHeap = Atomic<Int>(0)
let start = nowNanoseconds()

func completedByEngine() -> Int { conveyor.statistics.reduce(0) { $0 + $1.completed + $1.failed + $1.cancelled + $1.expired } }

let resizer = JoinableThread {
    var step = 0
    while !stopResizing.load(ordering: .relaxed) {
        sleep(nanoseconds: 500_000_000)
        step += 1
        let wait = 1 + step % 3, reject = 1 + step % 2
        let error: String? = blockingAwait {
            do {
                try await conveyor.resize(group: "wait", workers: wait)
                try await conveyor.resize(group: "reject", workers: reject)
                return nil
            } catch { return "\(error)" }
        }
        if let error { noteUnexpected("resize: \(error)") } else { resizes.add(2, ordering: .relaxed) }
    }
}

let monitor = JoinableThread {
    var lastPrint = nowNanoseconds()
    var lastIds = 0
    while !stop.load(ordering: .relaxed) {
        sleep(nanoseconds: 250_000_000)
        let heap = MemoryStatistics.current().jemallocAllocated ?? MemoryMetrics.process().heapAllocated
        var peak = peakHeap.load(ordering: .relaxed)
        while heap > peak, !peakHeap.compareExchange(expected: peak, desired: heap, ordering: .relaxed).exchanged {
            peak = peakHeap.load(ordering: .relaxed)
        }
        let now = nowNanoseconds()
        if Double(now - lastPrint) >= options.progressSeconds * 1e9 {
            let ids = producedIds.load(ordering: .relaxed)
            let rate = Double(ids - lastIds) / (Double(now - lastPrint) / 1e9)
            let memory = MemoryMetrics.process()
            let line = (String(format: "[%6.0f s] %@ of %@ ids submitted (%.1f %%), %.2f M ids/s, engine settled %@, RSS %d MiB, heap %d MiB",
                         Double(now - start) / 1e9, ids.formatted(), totalTasks.formatted(), 100 * Double(ids) / Double(totalTasks),
                         rate / 1e6, completedByEngine().formatted(), memory.residentSetSize >> 20, heap >> 20)) + "\n"
            FileHandle.standardOutput.write(line.data(using: .utf8)!)
            lastPrint = now
            lastIds = ids
        }
    }
}

FileHandle.standardOutput.write(
    ("conveyor-stress: \(totalTasks.formatted()) tasks, \(options.producers) producers, groups spill/wait/reject, "
        + "bitmap " + String(format: "%.1f MB", Double((totalTasks + 7) / 8) / 1e6) + "\n").data(using: .utf8)!)
let submitNanoseconds = runOnThreads(pin: false, (0..<options.producers).map { producer in { produce(producer) } })
while awaitedInFlight.load(ordering: .relaxed) > 0 { sleep(nanoseconds: 1_000_000) }
stopResizing.store(true, ordering: .relaxed)
resizer.join()
blockingAwait { await conveyor.shutdown(drain: true) }
let elapsed = nowNanoseconds() - start
stop.store(true, ordering: .relaxed)
monitor.join()
scalerLoop.cancel()
scaler.finish()

// MARK: Audit

let tally = tallies.withLock { $0.reduce(ProducerTally(), +) }
let (setBits, lost) = seen.audit()
let duplicates = seen.duplicates.load(ordering: .relaxed)
let lostCount = totalTasks - setBits
let accepted = totalTasks - tally.refused
let memory = MemoryMetrics.process()
let seconds = Double(elapsed) / 1e9
let scalerStatus = try? scaler.status(for: "spill")

var problems: [String] = []
if lostCount != 0 { problems.append("\(lostCount) ids never settled (first: \(lost.map(String.init).joined(separator: ", ")))") }
if duplicates != 0 {
    let cause = SeenBitmap.Cause(rawValue: seen.firstDuplicateCause.load(ordering: .relaxed))?.label ?? "?"
    problems.append("\(duplicates) ids settled twice (first: \(seen.firstDuplicate.load(ordering: .relaxed)), second time \(cause))")
}
if tally.ids != totalTasks { problems.append("producers covered \(tally.ids) ids of \(totalTasks)") }
let unexpectedCount = unexpected.load(ordering: .relaxed)
if unexpectedCount != 0 { problems.append("\(unexpectedCount) unexpected errors: " + unexpectedText.withLock { $0.joined(separator: "; ") }) }

let rows: [[String]] = [
    ["typed single", tally.typed.formatted()], ["bulk submit (16 per call, accepted)", tally.bulk.formatted()],
    ["closures", tally.closures.formatted()], ["cancel attempts (typed)", tally.cancelAttempts.formatted()],
    ["cancelled (cancel returned true)", tally.cancelled.formatted()],
    ["closures with a start deadline", tally.deadline.formatted()], ["expired and reported", expiredReported.load(ordering: .relaxed).formatted()],
    ["batched (registerBatch)", tally.batched.formatted()], ["awaited run", tally.awaited.formatted()],
    ["typed failures reported", failuresReported.load(ordering: .relaxed).formatted()],
    ["refused at submit (queueFull)", tally.refused.formatted()], ["accepted", accepted.formatted()],
    ["resizes by hand", resizes.load(ordering: .relaxed).formatted()],
    ["scaler on spill: intervals seen, decisions out/in, applied out/in",
     scalerStatus.map { "\($0.intervals), \($0.scaleOuts)/\($0.scaleIns), \($0.appliedScaleOuts)/\($0.appliedScaleIns)" } ?? "none"],
    ["lost", lostCount.formatted()], ["duplicated", duplicates.formatted()],
]
let rate = Double(totalTasks) / seconds
let document = BenchDocument(
    id: "stress", title: "Long stress: every task once", machine: machineDescription(), date: utcTimestamp(), revision: gitRevision(),
    method: "conveyor-stress: \(totalTasks.formatted()) task ids over \(options.producers) submitting threads and 3 groups "
        + "(spill with a PredictiveScaler, wait and reject resized every 0.5 s), every public submit path; one bit per id, "
        + "set once by whoever settles it (ran, reported failure or expiry, cancel, refusal).",
    figures: [
        BenchFigure(key: "stress.tasks_per_second", label: "task ids per second (submit to drained)", unit: "tasks/s", runs: [rate]),
        BenchFigure(key: "stress.peak_rss", label: "peak RSS", unit: "bytes", runs: [Double(memory.peakResidentSetSize)]),
        BenchFigure(key: "stress.peak_heap", label: "peak jemalloc allocated", unit: "bytes", runs: [Double(peakHeap.load(ordering: .relaxed))]),
    ],
    aims: [BenchAim(text: "\(totalTasks.formatted()) tasks: 0 lost, 0 duplicated", result: "\(lostCount) lost, \(duplicates) duplicated",
                    met: lostCount == 0 && duplicates == 0 && unexpectedCount == 0)],
    tables: [BenchTable(title: "Tasks by path and outcome", header: ["", "tasks"], rows: rows)])
var report = ReportRunOptions.parse(program: "conveyor-stress", [])
report.jsonPath = options.jsonPath
report.markdownPath = options.markdownPath
try report.publish(document)
print(String(format: "%.1f s (submitting %.1f s), %.2f M task ids/s, peak RSS %d MiB, peak jemalloc allocated %d MiB (bitmap %.1f MB)",
             seconds, Double(submitNanoseconds) / 1e9, rate / 1e6, memory.peakResidentSetSize >> 20,
             peakHeap.load(ordering: .relaxed) >> 20, Double((totalTasks + 7) / 8) / 1e6))
if problems.isEmpty {
    print("PASS: \(totalTasks.formatted()) tasks, 0 lost, 0 duplicated")
} else {
    for problem in problems { print("FAIL: \(problem)") }
    exit(1)
}
