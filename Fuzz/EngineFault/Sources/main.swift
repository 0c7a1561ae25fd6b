// conveyor-engine-fault: fault injection through the engine's public API, in the SQLite
// manner (docs/Reliability.md, `make fault-injection`).
//
//   conveyor-engine-fault            the loop: for N = 1, 2, … runs a child process that fails
//                                    the Nth allocation of the C core, until a child finishes
//                                    with no allocation left to fail; prints each site's tally
//   conveyor-engine-fault --child N  one run of the workload with the Nth allocation failing
//   conveyor-engine-fault --child-worker SITE   one run failing SITE's first call on an engine
//                                    thread (a worker): the loop runs each site this way too
//   conveyor-engine-fault --child-slabs-from K  one run in which every slab allocation from
//                                    the Kth on fails (memory exhausted for good); the loop
//                                    runs K = 1, 2, … too
//
// The C core is built with -DCNV_FAULT_INJECTION: each of its allocation sites asks
// `cnv_fault_fail(site)` (defined below) first. The workload creates an engine with a spill
// group and a wait group, holds the spill group's only worker so its ring (8 slots) fills and
// tasks spill to the overflow queue, submits typed tasks, bulk submits of 20 (two ring
// operations each) and one of 1,200 (more than a slab of records), closures, cancelled tickets, batched tasks and awaited `run` calls, then
// drains. Every task id is settled exactly once: it ran, or its submit threw (the call that
// allocated), or `cancel` returned true, or its failure was reported. Checked in every child:
// an error thrown by a submit or by `Conveyor.init` is `ConveyorError.outOfMemory` and comes
// only from an injected fault; no id ran twice, none was lost; no crash (a signal) and no
// hang (the parent kills a child after 60 s).
import Conveyor
import Foundation
import Synchronization

/// The fault point's state (statics: initialised on first use, safe from any thread).
enum Fault {
    static let calls = Atomic<Int>(0)
    static let failAt = Atomic<Int>(0)  // 0: never
    static let injected = Atomic<Int>(0)
    static let site = Atomic<Int>(-1)
    /// ≥ 0: fail instead the first call of this site made on one of the engine's threads
    /// (named "conveyor.…": workers, and the deadline thread they start).
    static let workerSite = Atomic<Int>(-1)
    /// ≥ 1: every slab allocation from this one on fails (memory stays exhausted: submits that
    /// need a new record slab fail until the workers free records).
    static let slabsFrom = Atomic<Int>(0)
    static let slabCalls = Atomic<Int>(0)
    static let siteNames = [
        "cnv__aligned_zeroed (ring structs and slots)", "slab_memory_allocate (a slab)", "depot magazine",
        "slab pool struct", "pool registry", "thread TLS table", "thread cache", "overflow queue struct", "parker",
    ]
}

/// Called by every allocation site of the C core before it allocates (cnv_fault.h); true makes
/// the site behave as if the allocation failed.
@_cdecl("cnv_fault_fail")
func cnvFaultFail(_ site: UInt32) -> Bool {
    let call = Fault.calls.add(1, ordering: .relaxed).newValue
    let workerSite = Fault.workerSite.load(ordering: .relaxed)
    let slabsFrom = Fault.slabsFrom.load(ordering: .relaxed)
    if slabsFrom > 0 {
        guard site == 1, Fault.slabCalls.add(1, ordering: .relaxed).newValue >= slabsFrom else { return false }
        Fault.injected.add(1, ordering: .relaxed)
    } else if workerSite >= 0 {
        guard Int(site) == workerSite, onEngineThread(),
            Fault.injected.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged
        else { return false }
    } else {
        guard call == Fault.failAt.load(ordering: .relaxed) else { return false }
        Fault.injected.add(1, ordering: .relaxed)
    }
    Fault.site.store(Int(site), ordering: .relaxed)
    // Said at once (unbuffered), so a crash that follows names the site.
    FileHandle.standardError.write("injected: allocation \(call), site \(site) \(Fault.siteNames[Int(site)])\n".data(using: .utf8)!)
    if ProcessInfo.processInfo.environment["FAULT_BACKTRACE"] != nil {
        FileHandle.standardError.write((Thread.callStackSymbols.prefix(14).joined(separator: "\n") + "\n").data(using: .utf8)!)
    }
    return true
}

/// Whether the calling thread is one of the engine's (its kernel name starts "conveyor.").
func onEngineThread() -> Bool {
    (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.hasPrefix("conveyor.") ?? false
}

// MARK: The workload (one child)

struct Item: BitwiseCopyable, Sendable { var id: Int }

/// How each id was settled: ran (by the task), refused (its submit threw), cancelled.
final class Ledger: Sendable {
    enum Way: String, Sendable { case ran, refused, cancelled }
    let count: Int
    private let ways: Mutex<[[Way]]>
    init(count: Int) {
        self.count = count
        self.ways = Mutex(Array(repeating: [], count: count))
    }
    func mark(_ id: Int, _ way: Way) { self.ways.withLock { $0[id].append(way) } }
    var snapshot: [[Way]] { self.ways.withLock { $0 } }
}

/// Ids of each path.
enum Ids {
    static let typed = 0..<150
    static let bulk = 150..<250  // 5 calls of 20
    static let closures = 250..<300
    static let cancelled = 300..<320
    static let batched = 320..<420
    static let awaited = 420..<440
    /// One bulk submit of 1,200: more records than one slab holds, so a later chunk of 16
    /// allocates a slab (and may be the one that fails).
    static let bigBulk = 440..<1640
    static let count = 1640
}

final class Problems: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ text: String) { self.list.withLock { $0.append(text) } }
    var all: [String] { self.list.withLock { $0 } }
}

/// Blocks this (non-pool) thread until `body` finished on the Swift concurrency pool.
func blocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let box = Mutex<Value?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await body()
        box.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return box.withLock { $0! }
}

func runChild(failAt: Int, workerSite: Int = -1, slabsFrom: Int = 0) -> Int32 {
    Fault.failAt.store(failAt, ordering: .relaxed)
    Fault.slabsFrom.store(slabsFrom, ordering: .relaxed)
    Fault.workerSite.store(workerSite, ordering: .relaxed)
    let ledger = Ledger(count: Ids.count)
    let problems = Problems()
    let surfaced = Atomic<Int>(0)
    let reported = Mutex<[String: Int]>([:])  // kind → failures reported

    /// A thrown error: must be outOfMemory, and only after an injected fault.
    func refused(_ error: any Error, _ what: String) -> Bool {
        guard case ConveyorError.outOfMemory = error else {
            problems.add("\(what) threw \(error), not ConveyorError.outOfMemory")
            return false
        }
        if Fault.injected.load(ordering: .relaxed) == 0 { problems.add("\(what) threw \(error) with no fault injected") }
        surfaced.add(1, ordering: .relaxed)
        return true
    }

    let conveyor: Conveyor
    do {
        conveyor = try Conveyor(
            configuration: .init(
                groups: [
                    ResourceGroup("spill", minWorkers: 1, capacity: 8, priorityLevels: 1, overflow: .spill(memoryLimit: 1 << 20)),
                    ResourceGroup("wait", minWorkers: 1, maxWorkers: 2, initialWorkers: 2, capacity: 64, overflow: .wait(timeout: .seconds(30))),
                ],
                defaultGroup: "wait",
                routes: ["typed": "spill", "bulk": "spill"],
                onFailure: { failure in
                    // Any reported failure here can only come from the fault (the handlers never throw).
                    reported.withLock { $0[failure.kind, default: 0] += 1 }
                    if case ConveyorError.outOfMemory = failure.error {} else { problems.add("reported \(failure)") }
                    if Fault.injected.load(ordering: .relaxed) == 0 { problems.add("reported \(failure) with no fault injected") }
                }))
    } catch {
        _ = refused(error, "Conveyor.init")
        return finish(ledger: nil, problems: problems, surfaced: surfaced.load(ordering: .relaxed), reported: [:])
    }

    do {
        let typed = try conveyor.register("typed", payload: Item.self) { ledger.mark($0.id, .ran) }
        let bulk = try conveyor.register("bulk", payload: Item.self) { ledger.mark($0.id, .ran) }
        let batch = try conveyor.registerBatch(
            "batched", payload: Item.self, options: BatchOptions(maxBatchSize: 16, maxWaitTime: .milliseconds(2), group: "wait")
        ) { items in for item in items { ledger.mark(item.id, .ran) } }

        // Hold the spill group's only worker so its 8-slot ring fills and the rest spill.
        let hold = Atomic<Bool>(true)
        do {
            try conveyor.submit(QueueTask(kind: "hold", group: "spill")) {
                while hold.load(ordering: .acquiring) { usleep(100) }
            }
        } catch {
            _ = refused(error, "hold closure submit")
        }
        for id in Ids.typed {
            do { try conveyor.submit(typed, Item(id: id)) } catch { if refused(error, "typed submit \(id)") { ledger.mark(id, .refused) } }
        }
        for first in stride(from: Ids.bulk.lowerBound, to: Ids.bulk.upperBound, by: 20) {
            let items = (first..<first + 20).map { Item(id: $0) }
            do {
                let accepted = try conveyor.submit(bulk, contentsOf: items)
                if accepted < 20 {
                    // A short count: the rest were refused; only a fault may cause it here (the limit is far).
                    if Fault.injected.load(ordering: .relaxed) == 0 { problems.add("bulk at \(first) accepted \(accepted) of 20, no fault") }
                    surfaced.add(1, ordering: .relaxed)
                }
                for id in first + accepted..<first + 20 { ledger.mark(id, .refused) }
            } catch {
                if refused(error, "bulk submit at \(first)") { for id in first..<first + 20 { ledger.mark(id, .refused) } }
            }
        }
        do {
            let accepted = try conveyor.submit(bulk, contentsOf: Ids.bigBulk.map { Item(id: $0) })
            if accepted < Ids.bigBulk.count {
                if Fault.injected.load(ordering: .relaxed) == 0 { problems.add("bulk of 1200 accepted \(accepted), no fault") }
                surfaced.add(1, ordering: .relaxed)
            }
            for id in Ids.bigBulk.lowerBound + accepted..<Ids.bigBulk.upperBound { ledger.mark(id, .refused) }
        } catch {
            // Thrown: the documented meaning is that none was accepted.
            if refused(error, "bulk submit of 1200") { for id in Ids.bigBulk { ledger.mark(id, .refused) } }
        }
        hold.store(false, ordering: .releasing)
        for id in Ids.closures {
            do { try conveyor.submit(QueueTask(kind: "closure")) { ledger.mark(id, .ran) } } catch {
                if refused(error, "closure submit \(id)") { ledger.mark(id, .refused) }
            }
        }
        for id in Ids.cancelled {
            do {
                let ticket = try conveyor.submit(typed, Item(id: id))
                if conveyor.cancel(ticket) { ledger.mark(id, .cancelled) }
            } catch {
                if refused(error, "typed submit \(id) (to cancel)") { ledger.mark(id, .refused) }
            }
        }
        for id in Ids.batched {
            do { try conveyor.submit(batch, Item(id: id)) } catch { if refused(error, "batch submit \(id)") { ledger.mark(id, .refused) } }
        }
        let awaitedErrors: [(Int, any Error)] = blocking {
            await withTaskGroup(of: (Int, (any Error)?).self) { group in
                for id in Ids.awaited {
                    group.addTask {
                        do {
                            let result = try await conveyor.run(QueueTask(kind: "awaited")) { () -> Int in
                                ledger.mark(id, .ran)
                                return id
                            }
                            return (id, result.value == id ? nil : ConveyorError.invalidConfiguration(reason: "wrong value"))
                        } catch {
                            return (id, error)
                        }
                    }
                }
                var errors: [(Int, any Error)] = []
                for await (id, error) in group { if let error { errors.append((id, error)) } }
                return errors
            }
        }
        for (id, error) in awaitedErrors where refused(error, "run \(id)") { ledger.mark(id, .refused) }
    } catch {
        problems.add("registering the kinds threw \(error)")
    }
    blocking { await conveyor.shutdown(drain: true) }
    return finish(ledger: ledger, problems: problems, surfaced: surfaced.load(ordering: .relaxed), reported: reported.withLock { $0 })
}

/// Audits the ledger, prints the child's RESULT line, returns its exit status.
func finish(ledger: Ledger?, problems: Problems, surfaced: Int, reported: [String: Int]) -> Int32 {
    var lost: [Int] = []
    if let ledger {
        // Ids a reported failure accounts for, per kind (a TaskFailure names its kind, not its id).
        var unexplained = reported
        let kinds: [(Range<Int>, String)] = [
            (Ids.typed, "typed"), (Ids.bulk, "bulk"), (Ids.closures, "closure"), (Ids.cancelled, "typed"),
            (Ids.batched, "batched"), (Ids.awaited, "awaited"), (Ids.bigBulk, "bulk"),
        ]
        for (id, ways) in ledger.snapshot.enumerated() {
            if ways.count > 1 { problems.add("id \(id) settled \(ways.count) times: \(ways.map(\.rawValue))") }
            if ways.isEmpty {
                let kind = kinds.first { $0.0.contains(id) }!.1
                if let left = unexplained[kind], left > 0 { unexplained[kind] = left - 1 } else { lost.append(id) }
            }
        }
        if !lost.isEmpty { problems.add("\(lost.count) ids lost (neither ran nor refused nor reported): \(lost.prefix(10))") }
    }
    let injected = Fault.injected.load(ordering: .relaxed)
    let site = Fault.site.load(ordering: .relaxed)
    print("RESULT calls=\(Fault.calls.load(ordering: .relaxed)) injected=\(injected) site=\(site) surfaced=\(surfaced) "
        + "reported=\(reported.values.reduce(0, +)) engine=\(ledger == nil ? "none" : "ran")")
    for problem in problems.all.prefix(20) { print("FAIL: \(problem)") }
    if problems.all.count > 20 { print("FAIL: … and \(problems.all.count - 20) more") }
    return problems.all.isEmpty ? 0 : 1
}

// MARK: The loop (parent)

/// Runs this executable with `arguments`; its exit status (−signal when killed, by a crash or
/// after 60 s) and its standard output.
func runChildProcess(_ executable: URL, _ arguments: [String]) -> (Int32, String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return (-1000, "cannot start \(executable.path): \(error)") }
    let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    let status = process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
    return (status, String(decoding: data, as: UTF8.self))
}

func runLoop() -> Int32 {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    var failed = Array(repeating: 0, count: Fault.siteNames.count)
    var surfacedAt = Array(repeating: 0, count: Fault.siteNames.count)
    var absorbedAt = Array(repeating: 0, count: Fault.siteNames.count)
    var defects: [String] = []
    var totalCalls = 0
    var n = 1
    let start = Date()
    while n <= 20_000 {
        let (status, text) = runChildProcess(executable, ["--child", "\(n)"])
        let result = text.split(separator: "\n").first { $0.hasPrefix("RESULT ") }
        var fields: [String: String] = [:]
        for pair in (result ?? "").dropFirst(7).split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        let injected = Int(fields["injected"] ?? "") ?? -1
        let site = Int(fields["site"] ?? "") ?? -1
        let siteName = (0..<Fault.siteNames.count).contains(site) ? Fault.siteNames[site] : "?"
        if status < 0 || result == nil {
            defects.append("N=\(n): the child died (status \(status)) or hung; rerun `--child \(n)` for the site")
        } else if status != 0 {
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.prefix(5)
            defects.append("N=\(n) (site \(siteName)): " + lines.joined(separator: " | "))
        }
        if injected == 0 {
            totalCalls = Int(fields["calls"] ?? "") ?? 0
            break
        }
        if (0..<Fault.siteNames.count).contains(site) {
            failed[site] += 1
            let shown = (Int(fields["surfaced"] ?? "") ?? 0) + (Int(fields["reported"] ?? "") ?? 0)
            if shown > 0 || fields["engine"] == "none" { surfacedAt[site] += 1 } else { absorbedAt[site] += 1 }
        }
        n += 1
    }
    // Then each site's first call on an engine thread (workers and their deadline thread): the
    // sequence above reaches those calls only when the thread timing puts them at N.
    var workerRows: [String] = []
    var onEngineThread = Array(repeating: false, count: Fault.siteNames.count)
    for site in 0..<Fault.siteNames.count {
        let (status, text) = runChildProcess(executable, ["--child-worker", "\(site)"])
        let injected = text.contains("injected=1")
        if status != 0 {
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.prefix(5)
            defects.append("first \(Fault.siteNames[site]) call on an engine thread: "
                + (lines.isEmpty ? "the child died or hung (status \(status))" : lines.joined(separator: " | ")))
        }
        workerRows.append("  " + Fault.siteNames[site].padding(toLength: 46, withPad: " ", startingAt: 0)
            + (injected ? (status == 0 ? " failed on an engine thread: passed" : " failed on an engine thread: FAILED") : " not called on an engine thread"))
        if injected { onEngineThread[site] = true }
    }
    // Then memory that stays exhausted: every slab allocation from the Kth on fails.
    var persistentRuns = 0
    for k in 1...1_000 {
        let (status, text) = runChildProcess(executable, ["--child-slabs-from", "\(k)"])
        if status != 0 {
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.prefix(5)
            defects.append("every slab allocation from the \(k)th failing: "
                + (lines.isEmpty ? "the child died or hung (status \(status))" : lines.joined(separator: " | ")))
        }
        if text.contains("injected=0") || text.isEmpty { break }
        persistentRuns += 1
    }
    let seconds = Date().timeIntervalSince(start)
    print("conveyor-engine-fault: \(n - 1) runs with one allocation failed, then a clean run of \(totalCalls) allocation calls "
        + String(format: "(%.0f s)", seconds))
    print("  site                                           failed  surfaced  absorbed (the task still ran)")
    for site in 0..<Fault.siteNames.count {
        print("  " + Fault.siteNames[site].padding(toLength: 46, withPad: " ", startingAt: 0)
            + String(format: " %6d  %8d  %8d", failed[site], surfacedAt[site], absorbedAt[site]))
    }
    print("Memory exhausted for good (every slab allocation from the Kth on fails): \(persistentRuns) runs")
    print("Each site's first call on an engine thread:")
    for row in workerRows { print(row) }
    let never = (0..<Fault.siteNames.count).filter { failed[$0] == 0 && !onEngineThread[$0] }.map { Fault.siteNames[$0] }
    if !never.isEmpty { print("  not reached by this workload: \(never.joined(separator: ", "))") }
    if totalCalls == 0 { defects.append("the loop never reached a clean run") }
    for defect in defects { print("FAIL: \(defect)") }
    if defects.isEmpty { print("PASS: every injected failure surfaced as outOfMemory or was absorbed; 0 lost, 0 duplicated, no crash") }
    return defects.isEmpty ? 0 : 1
}

let arguments = CommandLine.arguments
if arguments.count == 3, arguments[1] == "--child", let n = Int(arguments[2]), n >= 1 {
    exit(runChild(failAt: n))
} else if arguments.count == 3, arguments[1] == "--child-worker", let site = Int(arguments[2]), (0..<Fault.siteNames.count).contains(site) {
    exit(runChild(failAt: 0, workerSite: site))
} else if arguments.count == 3, arguments[1] == "--child-slabs-from", let k = Int(arguments[2]), k >= 1 {
    exit(runChild(failAt: 0, slabsFrom: k))
} else if arguments.count == 1 {
    exit(runLoop())
} else {
    print("usage: conveyor-engine-fault [--child N | --child-worker SITE | --child-slabs-from K]")
    exit(2)
}
