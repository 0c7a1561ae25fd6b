// conveyor-batchbench: BatchProcessor against single tasks on the same engine, in one process.
//
//   swift run -c release --package-path Benchmarks conveyor-batchbench [--runs N] [--json FILE] [--markdown FILE] [--quick]
//
// Rows (medians of --runs runs; every ratio against a peer measured in the same run, runs
// interleaved):
//   SQLite inserts (system libsqlite3, WAL, synchronous=FULL, a file on disk), one row per task,
//     one worker: a typed kind with one transaction per task against a batch kind with one
//     transaction per batch (maxBatchSize 50, maxWaitTime 100 ms); rows/s and the ratio;
//     the added wait (p50/p95/p99) saturated, paced at 2000 rows/s, and sparse (lone tasks)
//   trivial work: a batch handler summing its items against a typed kind adding one item per
//     task, 1 submitting thread, 1 worker; tasks/s and the ratio
//   pipelines: 3 trivial stages against 1, and 3 stages with a slow (10 µs) one against that
//     stage alone; RSS through the slow run
//   optimizer: a synthetic handler costing fixed + per item (spinning on the clock), Poisson
//     arrivals; the size optimizeBatchSize chose against the analytic optimum, and the p95
//     added wait it gave against the target
import BenchSupport
import CSQLite
import Conveyor
import ConveyorReport
import Foundation
import Synchronization

let options = ReportRunOptions.parse(program: "conveyor-batchbench")
func median(_ values: [Double]) -> Double { BenchFigure.median(of: values) }
func log(_ text: String) { FileHandle.standardError.write((text + "\n").data(using: .utf8)!) }
func milliseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e6 }

// MARK: SQLite

/// One connection with a prepared INSERT. Used by one worker at a time (the group has one).
final class Database: @unchecked Sendable {
    private var handle: OpaquePointer?
    private var insert: OpaquePointer?
    let path: String

    init(path: String) throws {
        self.path = path
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        guard sqlite3_open(path, &self.handle) == SQLITE_OK else { throw BenchError("cannot open \(path)") }
        try self.exec("PRAGMA journal_mode=WAL")
        try self.exec("PRAGMA synchronous=FULL")
        try self.exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, value REAL NOT NULL, payload INTEGER NOT NULL)")
        guard sqlite3_prepare_v2(self.handle, "INSERT INTO rows (id, value, payload) VALUES (?, ?, ?)", -1, &self.insert, nil) == SQLITE_OK
        else { throw BenchError("prepare: \(String(cString: sqlite3_errmsg(self.handle)))") }
    }

    deinit {
        sqlite3_finalize(self.insert)
        sqlite3_close(self.handle)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: self.path + suffix) }
    }

    func exec(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(self.handle, sql, nil, nil, &message) == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "?"
            sqlite3_free(message)
            throw BenchError("\(sql): \(text)")
        }
    }

    /// One INSERT; outside a transaction SQLite commits it on its own (one transaction).
    func insert(_ row: Row) throws {
        sqlite3_bind_int64(self.insert, 1, row.id)
        sqlite3_bind_double(self.insert, 2, row.value)
        sqlite3_bind_int64(self.insert, 3, row.payload)
        defer { sqlite3_reset(self.insert) }
        guard sqlite3_step(self.insert) == SQLITE_DONE else { throw BenchError("insert: \(String(cString: sqlite3_errmsg(self.handle)))") }
    }

    /// All rows in one transaction.
    func insert(_ rows: [Row]) throws {
        try self.exec("BEGIN")
        do {
            for row in rows { try self.insert(row) }
            try self.exec("COMMIT")
        } catch {
            try? self.exec("ROLLBACK")
            throw error
        }
    }

    func count() throws -> Int {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(self.handle, "SELECT COUNT(*) FROM rows", -1, &statement, nil) == SQLITE_OK else { throw BenchError("count") }
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else { throw BenchError("count step") }
        return Int(sqlite3_column_int64(statement, 0))
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Row: BitwiseCopyable, Sendable {
    var id: Int64
    var value: Double
    var payload: Int64
}

/// Counts handled items and wakes the waiter when a target is reached.
final class Completion: Sendable {
    private let done = Atomic<Int>(0)
    private let target = Atomic<Int>(Int.max)
    private let semaphore = DispatchSemaphore(value: 0)

    func reset(expecting count: Int) {
        self.done.store(0, ordering: .relaxed)
        self.target.store(count, ordering: .releasing)
    }

    func add(_ count: Int) {
        let now = self.done.add(count, ordering: .acquiringAndReleasing).newValue
        if now == self.target.load(ordering: .acquiring) { self.semaphore.signal() }
    }

    func wait() { self.semaphore.wait() }
}

let directory = FileManager.default.currentDirectoryPath + "/.batchbench-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

let maxWait = Duration.milliseconds(100)
let sqliteRowsSingle = options.quick ? 100 : 300
let sqliteRowsBatched = options.quick ? 5_000 : 20_000
let pacedRows = options.quick ? 500 : 2_000
let sparseRows = options.quick ? 4 : 12

let engine = try Conveyor(groups: [
    ResourceGroup("db", overflow: .wait(timeout: .seconds(600))),
    ResourceGroup("cpu", capacity: 4096, overflow: .wait(timeout: .seconds(600))),
    ResourceGroup("synthetic", overflow: .wait(timeout: .seconds(600))),
])
// The callgrind probe of the summing row is conveyor-batchprobe (Benchmarks/BatchProbe): a
// synchronous main, which valgrind can run.

let single = try Database(path: directory + "/single.db")
let batched = try Database(path: directory + "/batched.db")
let sqliteDone = Completion()
let insertOne = try engine.register("sqlite.insert", payload: Row.self) { row in
    try single.insert(row)
    sqliteDone.add(1)
}
let insertBatch = try engine.registerBatch(
    "sqlite.insertBatch", payload: Row.self, options: BatchOptions(maxBatchSize: 50, maxWaitTime: maxWait, group: "db")
) { rows in
    try batched.insert(rows)
    sqliteDone.add(rows.count)
}
let oneTask = QueueTask(kind: "sqlite.insert", group: "db")

var singleRates: [Double] = []
var batchedRates: [Double] = []
var saturatedWaits: [LatencyHistogram] = []
var pacedWaits: [LatencyHistogram] = []
var sparseWaits: [LatencyHistogram] = []
var nextID: Int64 = 0
@MainActor func row() -> Row {
    nextID += 1
    return Row(id: nextID, value: Double(nextID) * 0.5, payload: nextID &* 31)
}
/// The added wait of the tasks `body` submits. A batch's statistics are recorded just after
/// its handler returns (after the rows are counted done), so wait for them before reading.
func addedWait(during body: () throws -> Void) rethrows -> LatencyHistogram {
    func settled() -> LatencyHistogram {
        while true {
            let figures = try! engine.batchStatistics(for: insertBatch)
            if figures.tasks + figures.pending == batchedSubmitted.load(ordering: .relaxed) && figures.pending == 0 { return figures.addedWait }
            usleep(100)
        }
    }
    let before = settled()
    try body()
    return settled().subtracting(before)
}
let batchedSubmitted = Atomic<Int>(0)
func submitBatched(_ row: Row) throws {
    try engine.submit(insertBatch, row)
    batchedSubmitted.add(1, ordering: .relaxed)
}

for run in 0..<options.runs {
    // One transaction per task.
    sqliteDone.reset(expecting: sqliteRowsSingle)
    var start = nowNanoseconds()
    for _ in 0..<sqliteRowsSingle { try engine.submit(insertOne, row(), oneTask) }
    sqliteDone.wait()
    singleRates.append(Double(sqliteRowsSingle) / (Double(nowNanoseconds() - start) / 1e9))
    // One transaction per batch, saturated.
    let saturated = try addedWait {
        sqliteDone.reset(expecting: sqliteRowsBatched)
        start = nowNanoseconds()
        for _ in 0..<sqliteRowsBatched { try submitBatched(row()) }
        sqliteDone.wait()
        batchedRates.append(Double(sqliteRowsBatched) / (Double(nowNanoseconds() - start) / 1e9))
    }
    saturatedWaits.append(saturated)
    // Paced at 2000 rows/s: batches fill in 25 ms, before maxWaitTime.
    pacedWaits.append(try addedWait {
        sqliteDone.reset(expecting: pacedRows)
        let begin = nowNanoseconds()
        for index in 0..<pacedRows {
            sleep(untilNanoseconds: begin + UInt64(index) * 500_000)
            try submitBatched(row())
        }
        sqliteDone.wait()
    })
    // Sparse: a lone task every 130 ms, each flushed by its timer.
    sparseWaits.append(try addedWait {
        for _ in 0..<sparseRows {
            sqliteDone.reset(expecting: 1)
            try submitBatched(row())
            sqliteDone.wait()
            sleep(nanoseconds: 30_000_000)
        }
    })
    log(String(format: "sqlite run %d: single %.0f rows/s, batched %.0f rows/s (%.1f×); added wait p99 saturated %.2f ms, paced %.2f ms, sparse %.2f ms",
               run + 1, singleRates.last!, batchedRates.last!, batchedRates.last! / singleRates.last!,
               milliseconds(saturated.p99), milliseconds(pacedWaits.last!.p99), milliseconds(sparseWaits.last!.p99)))
}
guard try single.count() == options.runs * sqliteRowsSingle,
    try batched.count() == options.runs * (sqliteRowsBatched + pacedRows + sparseRows)
else { fatalError("SQLite row counts do not match what was submitted") }

// MARK: trivial work: summing batch handler against typed single tasks

let sumTasks = options.quick ? 300_000 : 2_000_000
let sumDone = Completion()
let total = Atomic<UInt64>(0)
let addOne = try engine.register("sum.one", payload: UInt64.self) { value in
    total.add(value, ordering: .relaxed)
    sumDone.add(1)
}
let sumBatch = try engine.registerBatch(
    "sum.batch", payload: UInt64.self, options: BatchOptions(maxBatchSize: 50, maxWaitTime: maxWait, group: "cpu")
) { values in
    var sum: UInt64 = 0
    for value in values { sum &+= value }
    total.add(sum, ordering: .relaxed)
    sumDone.add(values.count)
}
let sumTask = QueueTask(kind: "sum.one", group: "cpu")
var typedRates: [Double] = []
var sumRates: [Double] = []
for run in 0..<options.runs {
    sumDone.reset(expecting: sumTasks)
    total.store(0, ordering: .relaxed)
    var start = nowNanoseconds()
    for index in 0..<sumTasks { try engine.submit(addOne, UInt64(index), sumTask) }
    sumDone.wait()
    typedRates.append(Double(sumTasks) / (Double(nowNanoseconds() - start) / 1e9))
    let expected = UInt64(sumTasks) * UInt64(sumTasks - 1) / 2
    guard total.load(ordering: .relaxed) == expected else { fatalError("typed sum mismatch") }
    sumDone.reset(expecting: sumTasks)
    total.store(0, ordering: .relaxed)
    start = nowNanoseconds()
    for index in 0..<sumTasks { try engine.submit(sumBatch, UInt64(index)) }
    sumDone.wait()
    sumRates.append(Double(sumTasks) / (Double(nowNanoseconds() - start) / 1e9))
    guard total.load(ordering: .relaxed) == expected else { fatalError("batched sum mismatch") }
    log(String(format: "sum run %d: typed %.2f M/s, batched %.2f M/s (%.2f×)", run + 1, typedRates.last! / 1e6, sumRates.last! / 1e6,
               sumRates.last! / typedRates.last!))
}

// MARK: optimizer on a synthetic fixed + per-item cost

let fixedCost = 300_000.0  // ns per call
let perItemCost = 4_000.0  // ns per item
let arrivalRate = 40_000.0  // tasks per second
let waitTarget = Duration.milliseconds(2)
let syntheticDone = Completion()
let synthetic = try engine.registerBatch(
    "synthetic", payload: UInt64.self, options: BatchOptions(maxBatchSize: 20, maxWaitTime: .milliseconds(50), group: "synthetic")
) { items in
    let until = nowNanoseconds() + UInt64(fixedCost + perItemCost * Double(items.count))
    while nowNanoseconds() < until {}
    syntheticDone.add(items.count)
}
let analytic: Double = {
    let bound = Double(waitTarget.components.attoseconds) / 1e18 + Double(waitTarget.components.seconds)
    return (1 + bound / (0.95 / arrivalRate + perItemCost / 1e9)).rounded(.down)
}()
var chosenSizes: [Double] = []
var optimizedP95: [Double] = []
/// Per run, the median through the second half of the optimum for the costs and rate the
/// optimizer had fitted at each sample (the same formula as `analytic`, on the measured
/// values): on a loaded machine the spinning handler is preempted, so the real costs differ
/// from the nominal ones, and the size can only follow the real ones.
var measuredOptima: [Double] = []
/// The optimum for the measured costs, clamped to the optimizer's sizes (1...1000).
func optimum(for decision: BatchSizeDecision) -> Double? {
    guard !decision.probing, decision.arrivalRate > 0 else { return nil }
    let bound = Double(waitTarget.components.attoseconds) / 1e18 + Double(waitTarget.components.seconds)
    let perItem = Double(decision.perItemCost.components.attoseconds) / 1e18 + Double(decision.perItemCost.components.seconds)
    return min(1000, max(1, (1 + bound / (0.95 / decision.arrivalRate + max(0, perItem))).rounded(.down)))
}
let syntheticSeconds = options.quick ? 2.0 : 4.0
for run in 0..<options.runs {
    let count = Int(arrivalRate * syntheticSeconds)
    var generator = SplitMix64(state: UInt64(run + 1))
    var arrivals: [UInt64] = []
    var clock = 0.0
    for _ in 0..<count {
        clock += -log(1 - generator.unit()) / arrivalRate * 1e9
        arrivals.append(UInt64(clock))
    }
    syntheticDone.reset(expecting: count)
    // A fresh optimizer per run (no step across the pause between runs).
    let optimizer = try engine.optimizeBatchSize(for: synthetic, target: BatchSizeTarget(addedWaitP95: waitTarget, sizes: 1...1000))
    optimizer.start(every: .milliseconds(200))
    var sizesSeen: [Double] = []
    var optimaSeen: [Double] = []
    let begin = nowNanoseconds()
    var lastHalf = LatencyHistogram()
    var marked = false
    for (index, offset) in arrivals.enumerated() {
        if !marked, index >= count / 2 {
            marked = true
            lastHalf = try engine.batchStatistics(for: synthetic).addedWait
        }
        if marked, index % 2_000 == 0 {
            sizesSeen.append(Double(synthetic.maxBatchSize))
            if let decision = optimizer.lastDecision, let best = optimum(for: decision) { optimaSeen.append(best) }
        }
        let due = begin + offset
        if nowNanoseconds() < due { sleep(untilNanoseconds: due) }
        try engine.submit(synthetic, UInt64(index))
    }
    syntheticDone.wait()
    optimizer.stop()
    let waits = try engine.batchStatistics(for: synthetic).addedWait.subtracting(lastHalf)
    // The size in force through the second half of the arrivals (sampled every 2000 tasks).
    chosenSizes.append(median(sizesSeen))
    optimizedP95.append(milliseconds(waits.p95))
    measuredOptima.append(optimaSeen.isEmpty ? .nan : median(optimaSeen))
    log("optimizer run \(run + 1): size \(median(sizesSeen)) (analytic \(Int(analytic)), for the measured costs \(measuredOptima.last!)), p95 added wait \(String(format: "%.2f", milliseconds(waits.p95))) ms; \(optimizer.lastDecision.map(String.init(describing:)) ?? "-")")
}
await engine.shutdown(drain: true)

// MARK: pipelines

/// Items/s through a pipeline of `stages`, one worker each, `count` items from this thread.
func pipelineRate(count: Int, stages: [@Sendable (Int) -> Int], sampleRSS: Bool = false) async throws -> (rate: Double, rss: [Int]) {
    let delivered = Completion()
    delivered.reset(expecting: count)
    var builder = PipelineBuilder(input: Int.self).stage("s0", capacity: 1024, stages[0])
    for (index, body) in stages.enumerated().dropFirst() { builder = builder.stage("s\(index)", capacity: 1024, body) }
    let pipeline = try builder.build { _ in delivered.add(1) }
    var rss: [Int] = []
    let start = nowNanoseconds()
    for index in 0..<count {
        try pipeline.submit(index)
        if sampleRSS, index % (count / 20) == 0 { rss.append(MemoryStatistics.current().residentSetSize) }
    }
    delivered.wait()
    let rate = Double(count) / (Double(nowNanoseconds() - start) / 1e9)
    await pipeline.shutdown(drain: true)
    return (rate, rss)
}
@Sendable func spin(_ nanoseconds: UInt64) {
    let until = nowNanoseconds() + nanoseconds
    while nowNanoseconds() < until {}
}
let trivialItems = options.quick ? 100_000 : 500_000
let slowItems = options.quick ? 20_000 : 100_000
let slowCost: UInt64 = 10_000
var oneStageRates: [Double] = []
var threeStageRates: [Double] = []
var slowAloneRates: [Double] = []
var slowPipelineRates: [Double] = []
var rssGrowth: [Double] = []
for run in 0..<options.runs {
    oneStageRates.append(try await pipelineRate(count: trivialItems, stages: [{ $0 &+ 1 }]).rate)
    threeStageRates.append(try await pipelineRate(count: trivialItems, stages: [{ $0 &+ 1 }, { $0 &* 3 }, { $0 &- 1 }]).rate)
    slowAloneRates.append(try await pipelineRate(count: slowItems, stages: [{ spin(slowCost); return $0 }]).rate)
    let slow = try await pipelineRate(count: slowItems, stages: [{ $0 &+ 1 }, { spin(slowCost); return $0 }, { $0 &- 1 }], sampleRSS: true)
    slowPipelineRates.append(slow.rate)
    // RSS growth from the first quarter of the run (warm: rings and items in use) to its end.
    let warm = slow.rss[slow.rss.count / 4]
    rssGrowth.append(Double(slow.rss.last! - warm) / Double(warm) * 100)
    log(String(format: "pipeline run %d: 1 stage %.2f M/s, 3 stages %.2f M/s (%.2f×); slow alone %.0f/s, in 3 stages %.0f/s (%.2f×), RSS %+.2f %%",
               run + 1, oneStageRates.last! / 1e6, threeStageRates.last! / 1e6, threeStageRates.last! / oneStageRates.last!,
               slowAloneRates.last!, slowPipelineRates.last!, slowPipelineRates.last! / slowAloneRates.last!, rssGrowth.last!))
}

// MARK: report

func merged(_ histograms: [LatencyHistogram]) -> LatencyHistogram { histograms.reduce(LatencyHistogram()) { $0.merging($1) } }
let sqliteRatio = zip(batchedRates, singleRates).map { $0 / $1 }
let sumRatio = zip(sumRates, typedRates).map { $0 / $1 }
// Per regime, the median over runs of each run's p99; the aim takes the worst regime.
let worstRegimeP99 = [saturatedWaits, pacedWaits, sparseWaits].map { runs in median(runs.map { Double($0.p99) }) }.max() ?? 0
let waitLimit = milliseconds(UInt64(maxWait.components.seconds) * 1_000_000_000 + UInt64(maxWait.components.attoseconds / 1_000_000_000)) + 5
let sizeError = chosenSizes.map { abs($0 - analytic) / analytic }
let measuredSizeError = zip(chosenSizes, measuredOptima).map { abs($0 - $1) / $1 }.filter { !$0.isNaN }

var figures: [BenchFigure] = [
    BenchFigure(key: "batch.sqlite.single", label: "SQLite, one transaction per task", unit: "rows/s", runs: singleRates),
    BenchFigure(key: "batch.sqlite.batched", label: "SQLite, one transaction per batch of ≤ 50", unit: "rows/s", runs: batchedRates),
    BenchFigure(key: "batch.sqlite.batched/single", label: "SQLite batched × one transaction per task", unit: "×", runs: sqliteRatio),
    BenchFigure(key: "batch.sqlite.wait.saturated.p99", label: "added wait p99, saturated", unit: "ms", runs: saturatedWaits.map { milliseconds($0.p99) }),
    BenchFigure(key: "batch.sqlite.wait.paced.p99", label: "added wait p99, 2000 rows/s", unit: "ms", runs: pacedWaits.map { milliseconds($0.p99) }),
    BenchFigure(key: "batch.sqlite.wait.sparse.p99", label: "added wait p99, lone tasks", unit: "ms", runs: sparseWaits.map { milliseconds($0.p99) }),
    BenchFigure(key: "batch.sum.typed", label: "typed single tasks (one add each)", unit: "tasks/s", runs: typedRates),
    BenchFigure(key: "batch.sum.batched", label: "batch handler summing its items", unit: "tasks/s", runs: sumRates),
    BenchFigure(key: "batch.sum.batched/typed", label: "summing batch × typed single tasks", unit: "×", runs: sumRatio),
    BenchFigure(key: "batch.optimizer.size", label: "optimizer's batch size (median through the second half)", unit: "items", runs: chosenSizes),
    BenchFigure(key: "batch.optimizer.optimum.measured", label: "analytic optimum for the costs the optimizer measured (median through the second half)", unit: "items", runs: measuredOptima.filter { !$0.isNaN }),
    BenchFigure(key: "batch.optimizer.p95", label: "p95 added wait at the optimizer's size (second half)", unit: "ms", runs: optimizedP95),
    BenchFigure(key: "pipeline.one", label: "pipeline, 1 trivial stage", unit: "items/s", runs: oneStageRates),
    BenchFigure(key: "pipeline.three", label: "pipeline, 3 trivial stages", unit: "items/s", runs: threeStageRates),
    BenchFigure(key: "pipeline.three/one", label: "3 trivial stages × 1 stage", unit: "×", runs: zip(threeStageRates, oneStageRates).map { $0 / $1 }),
    BenchFigure(key: "pipeline.slow.alone", label: "slow stage (10 µs) alone", unit: "items/s", runs: slowAloneRates),
    BenchFigure(key: "pipeline.slow.three", label: "3 stages with the slow one in the middle", unit: "items/s", runs: slowPipelineRates),
    BenchFigure(key: "pipeline.slow.three/alone", label: "3 stages with a slow one × the slow stage alone", unit: "×", runs: zip(slowPipelineRates, slowAloneRates).map { $0 / $1 }),
    BenchFigure(key: "pipeline.slow.rss", label: "RSS growth, second three quarters of the slow run", unit: "%", runs: rssGrowth),
]
figures.sort { $0.key < $1.key }
let threeRatio = zip(threeStageRates, oneStageRates).map { $0 / $1 }
let slowRatio = zip(slowPipelineRates, slowAloneRates).map { $0 / $1 }
let aims = [
    Aim("SQLite batched ≥ 20× one transaction per task (throughput)", atLeast: 20).judge(median(sqliteRatio)) { String(format: "%.1f×", $0) }.benchAim,
    Aim("SQLite added wait p99 ≤ maxWaitTime + 5 ms (worst of saturated, 2000 rows/s and lone tasks; median of the runs' p99)", atMost: waitLimit)
        .judge(worstRegimeP99 / 1e6) { String(format: "%.1f ms", $0) }.benchAim,
    Aim("summing batch handler ≥ 2× typed single-task throughput, same engine", atLeast: 2).judge(median(sumRatio)) { String(format: "%.2f×", $0) }.benchAim,
    Aim("optimizer within 10 % of the analytic optimum (\(Int(analytic)); real clock, Poisson arrivals)", atMost: 0.10)
        .judge(median(sizeError)) { String(format: "%.1f %%", $0 * 100) }.benchAim,
    Aim("pipeline of 3 trivial stages ≥ 0.5× one stage alone (1 worker each)", atLeast: 0.5).judge(median(threeRatio)) { String(format: "%.2f×", $0) }.benchAim,
    Aim("pipeline with one slow stage (10 µs) ≥ 0.9× that stage's own rate", atLeast: 0.9).judge(median(slowRatio)) { String(format: "%.2f×", $0) }.benchAim,
    Aim("pipeline memory flat: RSS growth after the first quarter of the slow run ≤ 1 % (worst run)", atMost: 1)
        .judge(rssGrowth.max() ?? .infinity) { String(format: "%+.2f %%", $0) }.benchAim,
]
func row(_ name: String, _ values: [Double], _ format: String, ratio: [Double]?) -> [String] {
    [name, String(format: format, median(values)), ratio.map { String(format: "%.2f×", median($0)) } ?? "1×"]
}
let waitRows = [("saturated", saturatedWaits), ("2000 rows/s", pacedWaits), ("lone tasks (every 130 ms)", sparseWaits)].map { name, waits in
    let all = merged(waits)
    return [name, String(format: "%.2f", milliseconds(all.p50)), String(format: "%.2f", milliseconds(all.p95)), String(format: "%.2f", milliseconds(all.p99)),
            "\(all.count)"]
}
let tables = [
    BenchTable(
        title: "BatchProcessor throughput", note: "Medians over runs; ratios against the single-task peer of the same run (> 1 is better).",
        header: ["workload", "median", "× peer"],
        rows: [
            row("SQLite, one transaction per task (peer), rows/s", singleRates, "%.0f", ratio: nil),
            row("SQLite, one transaction per batch (≤ 50, 100 ms), rows/s", batchedRates, "%.0f", ratio: sqliteRatio),
            row("typed single tasks, one add each (peer), tasks/s", typedRates, "%.0f", ratio: nil),
            row("batch handler summing its items (≤ 50), tasks/s", sumRates, "%.0f", ratio: sumRatio),
            row("pipeline, 1 trivial stage (peer), items/s", oneStageRates, "%.0f", ratio: nil),
            row("pipeline, 3 trivial stages, items/s", threeStageRates, "%.0f", ratio: threeRatio),
            row("slow stage (10 µs spin) alone (peer), items/s", slowAloneRates, "%.0f", ratio: nil),
            row("3 stages, the slow one in the middle, items/s", slowPipelineRates, "%.0f", ratio: slowRatio),
        ]),
    BenchTable(
        title: "Added wait of the SQLite batch kind (maxWaitTime 100 ms)", note: "From a worker taking a task to its batch's handler call, all runs merged, ms.",
        header: ["load", "p50", "p95", "p99", "tasks"], rows: waitRows),
    BenchTable(
        title: "optimizeBatchSize on fixed \(Int(fixedCost / 1000)) µs + \(Int(perItemCost / 1000)) µs per item, \(Int(arrivalRate)) tasks/s, p95 target \(waitTarget)",
        note: "Analytic optimum: the largest n with (n − 1)(0.95 / rate + per item) ≤ target, i.e. \(Int(analytic)) for the nominal costs; "
            + "the same formula on the per-item cost and rate the optimizer had fitted at each sample gives the optimum for the costs measured in that run "
            + "(the handler spins on the wall clock and is preempted under load); median error against it "
            + (measuredSizeError.isEmpty ? "—" : String(format: "%.1f %%", median(measuredSizeError) * 100)) + ", against the nominal one "
            + String(format: "%.1f %%", median(sizeError) * 100) + ".",
        header: ["run", "size chosen (median, second half)", "optimum for the measured costs (median, second half)", "p95 added wait (ms, second half)"],
        rows: chosenSizes.indices.map { run in
            ["\(run + 1)", "\(Int(chosenSizes[run]))", measuredOptima[run].isNaN ? "—" : "\(Int(measuredOptima[run]))", String(format: "%.2f", optimizedP95[run])]
        }),
]
let method = "release build; medians of \(options.runs) runs, interleaved; SQLite \(sqlite3_libversion().map { String(cString: $0) } ?? "?") "
    + "(WAL, synchronous=FULL, files in the working directory), \(sqliteRowsSingle) rows per single-transaction run and \(sqliteRowsBatched) per batched run, "
    + "one submitting thread, one worker in group db; sums: \(sumTasks) tasks per run, 1 submitting thread, 1 worker; optimizer: "
    + "\(Int(syntheticSeconds)) s of Poisson arrivals per run, steps every 200 ms; pipelines: one worker per stage, \(trivialItems) trivial and \(slowItems) slow items per run from one submitting thread (.wait), RSS sampled 20 times per slow run"
let document = BenchDocument(
    id: "batch", title: "BatchProcessor", machine: machineDescription(revision: options.revision),
    date: utcTimestamp(), revision: options.revision, method: method, figures: figures, aims: aims, tables: tables)

try options.publish(document)
