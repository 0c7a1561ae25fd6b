// conveyor-cachebench: ResultCache and StreamProcessor against their peers, in one process.
//
//   swift run -c release --package-path Benchmarks conveyor-cachebench [--runs N] [--json FILE] [--markdown FILE]
//
// Rows (medians of --runs runs; every ratio against a peer measured in the same run):
//   hit ratio, Zipf s = 0.9 and 1.1 over 10⁶ keys, cache of 1 % (10⁴): W-TinyLFU, LRU, Bélády
//   scan resistance: the same Zipf traffic interleaved with a one-pass scan of 10× the cache
//   hits/s with 2 reading threads: ResultCache against a Mutex<Dictionary>
//   single-flight: 1000 concurrent identical requests, against the same requests uncached
//   StreamProcessor: peak jemalloc stats.allocated on an input ≥ 20× memoryLimit; time
//     against the same chunks submitted in bulk
import BenchSupport
@_spi(Testing) import Conveyor
import ConveyorReport
import Foundation
import Synchronization

let options = ReportRunOptions.parse(program: "conveyor-cachebench")
let keySpace = 1_000_000
let cacheSize = keySpace / 100
let traceLength = options.quick ? 300_000 : 2_000_000

func median(_ values: [Double]) -> Double { BenchFigure.median(of: values) }
func percent(_ value: Double) -> String { String(format: "%.2f %%", value * 100) }
func log(_ text: String) { FileHandle.standardError.write((text + "\n").data(using: .utf8)!) }

// MARK: hit ratios

/// Runs `trace` through a ResultCache (the real one: cachedValue, insert on a miss) and
/// returns the hit ratio over the Zipf accesses (`position[i] >= 0`; all of them when
/// `position` is nil) and over those whose Zipf position is in `window`.
/// CACHEBENCH_SAMPLE_SHIFT (0…16) sets the caches' hit sampling (0: every hit reaches the
/// policy), to compare hit ratios and hit cost against the default (the public initializer's).
let sampleShift = ProcessInfo.processInfo.environment["CACHEBENCH_SAMPLE_SHIFT"].flatMap { UInt32($0) }

func makeCache<K: Hashable & Sendable, V: Sendable>(
    _ key: K.Type, _ value: V.Type, maxEntries: Int, policy: ResultCache<K, V>.Policy = .windowTinyLFU, shards: Int? = nil
) throws -> ResultCache<K, V> {
    guard let sampleShift else { return try ResultCache<K, V>(maxEntries: maxEntries, policy: policy, shards: shards) }
    return try ResultCache<K, V>(
        maxEntries: maxEntries, maxBytes: nil, ttl: nil, policy: policy, cachesErrors: false, shards: shards,
        reclaimInterval: nil, clock: MonotonicCacheClock(), profiler: nil, name: "cache", hitSampleShift: sampleShift,
        size: { _ in MemoryLayout<V>.size })
}

func hitRatio(_ trace: [Int32], policy: ResultCache<Int32, Int32>.Policy, position: [Int32]? = nil, window: Range<Int>)
    throws -> (all: Double, window: Double)
{
    let cache = try makeCache(Int32.self, Int32.self, maxEntries: cacheSize, policy: policy)
    var hits = 0
    var lookups = 0
    var windowHits = 0
    var windowLookups = 0
    for index in trace.indices {
        let key = trace[index]
        let hit = try cache.cachedValue(for: key) != nil
        if !hit { try cache.insert(key, for: key) }
        let zipfIndex = position.map { Int($0[index]) } ?? index
        guard zipfIndex >= 0 else { continue }
        lookups += 1
        if hit { hits += 1 }
        if window.contains(zipfIndex) {
            windowLookups += 1
            if hit { windowHits += 1 }
        }
    }
    return (Double(hits) / Double(lookups), Double(windowHits) / Double(windowLookups))
}

/// The Zipf trace with a one-pass scan of 10× the cache woven in (one scan key after each
/// Zipf access) from a third of the way through. `position[i]` is the Zipf index of access
/// `i`, or -1 for a scan key. The scan window — the Zipf accesses during the scan and as
/// many after it — is where a scan hurts; the whole trace dilutes it.
let scanLength = 10 * cacheSize
func withScan(_ zipf: [Int32]) -> (trace: [Int32], position: [Int32], window: Range<Int>) {
    var trace: [Int32] = []
    var position: [Int32] = []
    trace.reserveCapacity(zipf.count + scanLength)
    position.reserveCapacity(zipf.count + scanLength)
    var scanned = 0
    let start = zipf.count / 3
    for (index, key) in zipf.enumerated() {
        trace.append(key)
        position.append(Int32(index))
        if index >= start, scanned < scanLength {
            trace.append(Int32(keySpace + scanned))
            position.append(-1)
            scanned += 1
        }
    }
    return (trace, position, start..<min(zipf.count, start + 2 * scanLength))
}

struct RatioRuns {
    var tinyLFU: [Double] = []
    var lru: [Double] = []
    var belady: [Double] = []
    /// In the scan window: without the scan (the reference) and with it.
    var windowTinyLFU: [Double] = []
    var windowLRU: [Double] = []
    var scanTinyLFU: [Double] = []
    var scanLRU: [Double] = []
    var scanBelady: [Double] = []
}

var ratios: [Double: RatioRuns] = [0.9: RatioRuns(), 1.1: RatioRuns()]
// CACHEBENCH_HITS_ONLY=1: only the hit-throughput rows (for profiling the read path).
let hitsOnly = ProcessInfo.processInfo.environment["CACHEBENCH_HITS_ONLY"] == "1"
/// CACHEBENCH_STREAM_ONLY=1 runs the StreamProcessor rows alone (to repeat them many times).
let streamOnly = ProcessInfo.processInfo.environment["CACHEBENCH_STREAM_ONLY"] == "1"
for s in [0.9, 1.1] where !hitsOnly && !streamOnly {
    let zipf = ZipfTrace(keys: keySpace, s: s, seed: 42)
    for run in 0..<options.runs {
        let trace = zipf.make(count: traceLength, seed: UInt64(run) &* 7919 &+ 1)
        let (scanned, position, window) = withScan(trace)
        var row = ratios[s]!
        let tiny = try hitRatio(trace, policy: .windowTinyLFU, window: window)
        let lru = try hitRatio(trace, policy: .lru, window: window)
        row.tinyLFU.append(tiny.all)
        row.lru.append(lru.all)
        row.windowTinyLFU.append(tiny.window)
        row.windowLRU.append(lru.window)
        let optimal = beladyHits(trace, capacity: cacheSize, keySpace: keySpace + scanLength)
        row.belady.append(Double(optimal.hits) / Double(optimal.lookups))
        row.scanTinyLFU.append(try hitRatio(scanned, policy: .windowTinyLFU, position: position, window: window).window)
        row.scanLRU.append(try hitRatio(scanned, policy: .lru, position: position, window: window).window)
        let scanOptimal = beladyHits(scanned, capacity: cacheSize, keySpace: keySpace + scanLength) {
            position[$0] >= 0 && window.contains(Int(position[$0]))
        }
        row.scanBelady.append(Double(scanOptimal.hits) / Double(scanOptimal.lookups))
        ratios[s] = row
        log("s=\(s) run \(run + 1): W-TinyLFU \(percent(tiny.all)), LRU \(percent(lru.all)), Bélády \(percent(row.belady.last!)); "
            + "scan window without / with the scan: W-TinyLFU \(percent(tiny.window)) / \(percent(row.scanTinyLFU.last!)), "
            + "LRU \(percent(lru.window)) / \(percent(row.scanLRU.last!))")
    }
}

// MARK: hit throughput, 2 reading threads

/// Runs `body(thread)` on `count` OS threads started together; returns the wall time.
func timeThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
    let ready = DispatchGroup()
    let done = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for index in 0..<count {
        ready.enter()
        done.enter()
        Thread {
            ready.leave()
            start.wait()
            body(index)
            done.leave()
        }.start()
    }
    ready.wait()
    let begin = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<count { start.signal() }
    done.wait()
    return Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
}

final class Sink: Sendable {
    let value = Atomic<Int>(0)
}

// CACHEBENCH_LOOKUPS overrides the lookups per thread (small values for callgrind);
// CACHEBENCH_PHASE=sharded|oneshard|mutex times only that one (instructions per hit are the
// difference of two callgrind runs of one phase at two CACHEBENCH_LOOKUPS, over the extra hits).
// For finding where a hit's time goes (the reported rows keep the defaults):
// CACHEBENCH_THREADS (default 2) reading threads; CACHEBENCH_HIT_KEYS (default 10⁴) keys
// preloaded and read uniformly; CACHEBENCH_DISJOINT=1 gives each thread its own keys (key %
// threads == thread), so no line of an entry is read by two threads.
let environment = ProcessInfo.processInfo.environment
let phase = environment["CACHEBENCH_PHASE"]
func runs(_ name: String) -> Bool { phase == nil || phase == name }
let lookupsPerThread = environment["CACHEBENCH_LOOKUPS"].flatMap { Int($0) } ?? (options.quick ? 500_000 : 5_000_000)
let readers = max(1, environment["CACHEBENCH_THREADS"].flatMap { Int($0) } ?? 2)
let hitKeys = max(readers, environment["CACHEBENCH_HIT_KEYS"].flatMap { Int($0) } ?? cacheSize)
let disjoint = environment["CACHEBENCH_DISJOINT"] == "1"
let readKeys: [Int] = {
    var generator = SplitMix64(state: 99)
    return (0..<lookupsPerThread).map { _ in Int(generator.next() % UInt64(hitKeys)) }
}()
/// The key thread `thread` reads at step `index`: the shared sequence, offset per thread, or
/// (disjoint) moved onto the thread's own residue class.
@inline(__always)
func readKey(_ keys: [Int], _ index: Int, _ thread: Int) -> Int {
    let key = keys[(index &+ thread &* 7777) % keys.count]
    guard disjoint else { return key }
    let own = key - key % readers + thread
    return own < hitKeys ? own : thread
}
var cacheHitRates: [Double] = []
var oneShardHitRates: [Double] = []
var mutexHitRates: [Double] = []
let sink = Sink()
for run in 0..<options.runs where !streamOnly {
    // Room for twice the preloaded keys, so that no shard (keys spread by hash) evicts any.
    let cache = try makeCache(Int.self, Int.self, maxEntries: 2 * hitKeys)
    for key in 0..<hitKeys { try cache.insert(key &* 3, for: key) }
    let oneShard = try makeCache(Int.self, Int.self, maxEntries: 2 * hitKeys, shards: 1)
    for key in 0..<hitKeys { try oneShard.insert(key &* 3, for: key) }
    let dictionary = Mutex<[Int: Int]>(Dictionary(uniqueKeysWithValues: (0..<hitKeys).map { ($0, $0 &* 3) }))
    let keys = readKeys
    let sharded = !runs("sharded") ? 1 : timeThreads(readers) { thread in
        var sum = 0
        for index in 0..<keys.count { sum &+= (try? cache.cachedValue(for: readKey(keys, index, thread))) ?? 0 }
        sink.value.add(sum, ordering: .relaxed)
    }
    let single = !runs("oneshard") ? 1 : timeThreads(readers) { thread in
        var sum = 0
        for index in 0..<keys.count { sum &+= (try? oneShard.cachedValue(for: readKey(keys, index, thread))) ?? 0 }
        sink.value.add(sum, ordering: .relaxed)
    }
    let locked = !runs("mutex") ? 1 : timeThreads(readers) { thread in
        var sum = 0
        for index in 0..<keys.count {
            let key = readKey(keys, index, thread)
            sum &+= dictionary.withLock { $0[key] } ?? 0
        }
        sink.value.add(sum, ordering: .relaxed)
    }
    let total = Double(readers * keys.count)
    cacheHitRates.append(total / sharded)
    oneShardHitRates.append(total / single)
    mutexHitRates.append(total / locked)
    guard !runs("sharded") || cache.statistics.hits == UInt64(keys.count * readers) else { fatalError("ResultCache missed a preloaded key") }
    log("hits run \(run + 1): ResultCache \(Int(total / sharded)) /s (\(cache.shardCount) shards), 1 shard \(Int(total / single)) /s, Mutex<Dictionary> \(Int(total / locked)) /s")
}

if hitsOnly { exit(0) }

// MARK: single-flight

func spin(microseconds: Int) -> Int {
    let end = DispatchTime.now().uptimeNanoseconds + UInt64(microseconds) * 1_000
    var turns = 0
    while DispatchTime.now().uptimeNanoseconds < end { turns &+= 1 }
    return turns
}

let conveyor = try Conveyor(groups: [ResourceGroup("cpu", minWorkers: 2, maxWorkers: 2)])
let requests = 1_000
let computeMicroseconds = 200
var coalescedTimes: [Double] = []
var uncachedTimes: [Double] = []
for run in 0..<options.runs where !streamOnly {
    let cache = try ResultCache<Int, Int>(maxEntries: 16)
    let computations = Sink()
    let task = QueueTask(kind: "report", group: "cpu")
    let clock = ContinuousClock()
    let coalesced = try await clock.measure {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<requests {
                group.addTask {
                    try await conveyor.run(task, cachedIn: cache, key: run) {
                        computations.value.add(1, ordering: .relaxed)
                        return spin(microseconds: computeMicroseconds)
                    }
                }
            }
            for try await _ in group {}
        }
    }
    let uncached = try await clock.measure {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<requests {
                group.addTask { try await conveyor.run(task) { spin(microseconds: computeMicroseconds) }.value }
            }
            for try await _ in group {}
        }
    }
    coalescedTimes.append(Double(coalesced.components.attoseconds) / 1e18 + Double(coalesced.components.seconds))
    uncachedTimes.append(Double(uncached.components.attoseconds) / 1e18 + Double(uncached.components.seconds))
    let ran = computations.value.load(ordering: .relaxed)
    log("single-flight run \(run + 1): \(ran) computation(s) for \(requests) requests, \(coalescedTimes.last!) s; uncached \(uncachedTimes.last!) s")
    guard ran == 1 else { fatalError("single-flight ran the computation \(ran) times") }
}

// MARK: StreamProcessor

/// One sample of the process's heap: jemalloc stats.allocated (RSS without jemalloc), the part
/// of it sitting free in thread caches (stats.arenas.<all>.tcache_bytes), the engine's slab
/// bytes reserved, and the bytes the stream counts in flight at that instant.
struct HeapSample {
    var allocated = 0
    var threadCaches = 0
    var slabReserved = 0
    var counted = 0
}

/// The sample with the highest allocated figure seen by a thread polling every 200 µs.
final class PeakSampler: @unchecked Sendable {
    // @unchecked: `peak` is written by the sampling thread and read after `stop()` joined it.
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)
    private var peak = HeapSample()
    private var peakOwned = HeapSample()
    init(counted: @escaping @Sendable () -> Int = { 0 }) {
        Thread {
            while self.running.load(ordering: .acquiring) {
                let metrics = MemoryMetrics.process()
                let sample = HeapSample(
                    allocated: metrics.heapSource == .jemalloc ? metrics.heapAllocated : metrics.residentSetSize,
                    threadCaches: metrics.heapInThreadCaches ?? 0, slabReserved: metrics.slabBytesReserved, counted: counted())
                if sample.allocated > self.peak.allocated { self.peak = sample }
                if sample.allocated - sample.threadCaches > self.peakOwned.allocated - self.peakOwned.threadCaches { self.peakOwned = sample }
                usleep(200)
            }
            self.finished.signal()
        }.start()
    }
    /// The sample of the highest allocated, and the sample of the highest allocated less the
    /// thread caches.
    func stop() -> (HeapSample, HeapSample) {
        self.running.store(false, ordering: .releasing)
        self.finished.wait()
        return (self.peak, self.peakOwned)
    }
}

func baseline() -> HeapSample {
    MemoryStatistics.releaseFreeMemoryToOS()
    let metrics = MemoryMetrics.process()
    return HeapSample(
        allocated: metrics.heapSource == .jemalloc ? metrics.heapAllocated : metrics.residentSetSize,
        threadCaches: metrics.heapInThreadCaches ?? 0, slabReserved: metrics.slabBytesReserved)
}

/// What a peak sample says above the baseline, for the log.
func describe(_ sample: HeapSample, over before: HeapSample) -> String {
    let kib = { (bytes: Int) in String(format: "%.0f KiB", Double(bytes) / 1024) }
    return "allocated +\(kib(sample.allocated - before.allocated)) (thread caches \(kib(sample.threadCaches)), was \(kib(before.threadCaches)); "
        + "slabs reserved +\(kib(sample.slabReserved - before.slabReserved)); counted in flight \(kib(sample.counted)))"
}

let memoryLimit = 16 << 20
// An input is a [UInt8] whose storage (32-byte header + elements) is exactly 4 KiB, a jemalloc
// size class: the size function then counts what the allocator really holds (4096 bytes of
// elements would need 4128 and be served from the 5 KiB class, 25 % more than counted).
let elementBytes = 4_096 - 32
let streamChunk = 256  // 1 MiB chunks
let streamElements = 21 * memoryLimit / 4_096  // 21× memoryLimit
let usesJemalloc = MemoryStatistics.current().jemallocAllocated != nil

struct Elements: AsyncSequence, Sendable {
    let count: Int
    struct AsyncIterator: AsyncIteratorProtocol {
        let count: Int
        var next = 0
        mutating func next() async -> [UInt8]? {
            guard self.next < self.count else { return nil }
            defer { self.next += 1 }
            return [UInt8](repeating: UInt8(truncatingIfNeeded: self.next), count: elementBytes)
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(count: self.count) }
}

@Sendable func checksum(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBytes { raw in
        var sum: UInt64 = 0
        for word in raw.bindMemory(to: UInt64.self) { sum = sum &* 31 &+ word }
        return sum
    }
}

var streamTimes: [Double] = []
var unorderedTimes: [Double] = []
var bulkTimes: [Double] = []
var streamPeaks: [Double] = []
var unorderedPeaks: [Double] = []
var bulkPeaks: [Double] = []
let expected: UInt64 = (0..<streamElements).reduce(0) { $0 &+ checksum([UInt8](repeating: UInt8(truncatingIfNeeded: $1), count: elementBytes)) }
for run in 0..<options.runs {
    for ordered in [true, false] {
        let processor = try StreamProcessor<[UInt8], UInt64>(
            conveyor: conveyor, task: QueueTask(kind: "checksum", group: "cpu"), chunkSize: streamChunk,
            memoryLimit: memoryLimit, ordered: ordered, size: { $0.count + 32 }, transform: checksum)
        let before = baseline()
        let sampler = PeakSampler { processor.statistics.bytesInFlight }
        let started = DispatchTime.now().uptimeNanoseconds
        var total: UInt64 = 0
        for try await value in processor.process(Elements(count: streamElements)) { total &+= value }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let (peakSample, ownedSample) = sampler.stop()
        let peak = peakSample.allocated - before.allocated
        guard total == expected else { fatalError("stream checksum mismatch") }
        if ordered {
            streamTimes.append(seconds)
            streamPeaks.append(Double(peak))
        } else {
            unorderedTimes.append(seconds)
            unorderedPeaks.append(Double(peak))
        }
        log("stream run \(run + 1) (\(ordered ? "ordered" : "unordered")): \(seconds) s, peak +\(peak >> 20) MiB over \(before.allocated >> 20) MiB")
        log("  at the allocated peak: \(describe(peakSample, over: before))")
        log("  at the peak less thread caches: \(describe(ownedSample, over: before))")
    }
    // The peer: the same chunks, generated and submitted all at once (no memory limit).
    let before = baseline()
    let sampler = PeakSampler()
    let started = DispatchTime.now().uptimeNanoseconds
    var chunks: [[[UInt8]]] = []
    var chunk: [[UInt8]] = []
    for await element in Elements(count: streamElements) {
        chunk.append(element)
        if chunk.count == streamChunk {
            chunks.append(chunk)
            chunk = []
        }
    }
    if !chunk.isEmpty { chunks.append(chunk) }
    let task = QueueTask(kind: "checksum", group: "cpu")
    let total = try await withThrowingTaskGroup(of: UInt64.self) { group in
        for chunk in chunks {
            group.addTask { try await conveyor.run(task) { chunk.reduce(0) { $0 &+ checksum($1) } }.value }
        }
        chunks = []
        var total: UInt64 = 0
        for try await value in group { total &+= value }
        return total
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    let peak = sampler.stop().0.allocated - before.allocated
    guard total == expected else { fatalError("bulk checksum mismatch") }
    bulkTimes.append(seconds)
    bulkPeaks.append(Double(peak))
    log("bulk run \(run + 1): \(seconds) s, peak +\(peak >> 20) MiB")
}
await conveyor.shutdown(drain: true)
if streamOnly { exit(0) }

// MARK: report

let mib = Double(1 << 20)
var figures: [BenchFigure] = []
var aims: [BenchAim] = []
var rows: [[String]] = []
for s in [0.9, 1.1] {
    let row = ratios[s]!
    let tag = String(format: "%.1f", s)
    figures.append(BenchFigure(key: "cache.hit.zipf\(tag).tinylfu", label: "hit ratio W-TinyLFU, Zipf \(tag)", unit: "ratio", runs: row.tinyLFU))
    figures.append(BenchFigure(key: "cache.hit.zipf\(tag).lru", label: "hit ratio LRU, Zipf \(tag)", unit: "ratio", runs: row.lru))
    figures.append(BenchFigure(key: "cache.hit.zipf\(tag).belady", label: "hit ratio Bélády, Zipf \(tag)", unit: "ratio", runs: row.belady))
    figures.append(BenchFigure(key: "cache.window.zipf\(tag).tinylfu", label: "scan window, no scan, W-TinyLFU, Zipf \(tag)", unit: "ratio", runs: row.windowTinyLFU))
    figures.append(BenchFigure(key: "cache.window.zipf\(tag).lru", label: "scan window, no scan, LRU, Zipf \(tag)", unit: "ratio", runs: row.windowLRU))
    figures.append(BenchFigure(key: "cache.scan.zipf\(tag).tinylfu", label: "scan window with scan, W-TinyLFU, Zipf \(tag)", unit: "ratio", runs: row.scanTinyLFU))
    figures.append(BenchFigure(key: "cache.scan.zipf\(tag).lru", label: "scan window with scan, LRU, Zipf \(tag)", unit: "ratio", runs: row.scanLRU))
    let gain = zip(row.tinyLFU, row.lru).map { ($0 - $1) * 100 }
    rows.append(["Zipf \(tag) hit ratio", percent(median(row.tinyLFU)), percent(median(row.lru)), percent(median(row.belady)),
                 String(format: "%+.2f points", median(gain))])
    let tinyDrop = zip(row.windowTinyLFU, row.scanTinyLFU).map { ($0 - $1) * 100 }
    let lruDrop = zip(row.windowLRU, row.scanLRU).map { ($0 - $1) * 100 }
    rows.append(["Zipf \(tag), scan window without the scan", percent(median(row.windowTinyLFU)), percent(median(row.windowLRU)), "", ""])
    rows.append(["Zipf \(tag), scan window with a scan of 10× the cache", percent(median(row.scanTinyLFU)), percent(median(row.scanLRU)),
                 percent(median(row.scanBelady)), String(format: "drop %.2f / %.2f points", median(tinyDrop), median(lruDrop))])
    if s == 0.9 {
        aims.append(BenchAim(text: "hit ratio W-TinyLFU ≥ LRU + 5 points (Zipf 0.9, 10⁶ keys, cache 1 %)",
                             result: String(format: "%+.2f points", median(gain)), met: median(gain) >= 5))
    }
    aims.append(BenchAim(text: "scan resistance: W-TinyLFU within 3 points of Zipf-only (Zipf \(tag); LRU drop \(String(format: "%.2f", median(lruDrop))))",
                         result: String(format: "drop %.2f points", median(tinyDrop)), met: median(tinyDrop) <= 3))
}
let hitRatioVsMutex = zip(cacheHitRates, mutexHitRates).map { $0 / $1 }
figures.append(BenchFigure(key: "cache.hits.sharded", label: "ResultCache hits/s, 2 threads", unit: "hits/s", runs: cacheHitRates))
figures.append(BenchFigure(key: "cache.hits.oneshard", label: "ResultCache (1 shard) hits/s, 2 threads", unit: "hits/s", runs: oneShardHitRates))
figures.append(BenchFigure(key: "cache.hits.mutex", label: "Mutex<Dictionary> hits/s, 2 threads", unit: "hits/s", runs: mutexHitRates))
figures.append(BenchFigure(key: "cache.hits.sharded/mutex", label: "ResultCache × Mutex<Dictionary>", unit: "×", runs: hitRatioVsMutex))
aims.append(BenchAim(text: "cache hits with 2 reading threads ≥ 10 M/s", result: String(format: "%.2f M/s", median(cacheHitRates) / 1e6),
                     met: median(cacheHitRates) >= 10e6))
aims.append(BenchAim(text: "cache hits ≥ 5× Mutex<Dictionary>, 2 threads", result: String(format: "%.2f×", median(hitRatioVsMutex)),
                     met: median(hitRatioVsMutex) >= 5))
let saved = zip(uncachedTimes, coalescedTimes).map { $0 - $1 }
figures.append(BenchFigure(key: "cache.singleflight", label: "1000 identical requests, single-flight", unit: "s", runs: coalescedTimes))
figures.append(BenchFigure(key: "cache.singleflight.uncached", label: "1000 identical requests, uncached", unit: "s", runs: uncachedTimes))
aims.append(BenchAim(text: "single-flight: 1000 concurrent identical requests run the computation once (time saved vs uncached)",
                     result: String(format: "1 run; %.1f ms saved (%.1f× faster)", median(saved) * 1e3, median(zip(uncachedTimes, coalescedTimes).map { $0 / $1 })),
                     met: true))
let streamVsBulk = zip(bulkTimes, streamTimes).map { $0 / $1 }
let unorderedVsBulk = zip(bulkTimes, unorderedTimes).map { $0 / $1 }
figures.append(BenchFigure(key: "stream.peak", label: "StreamProcessor peak allocated above baseline", unit: "MiB", runs: streamPeaks.map { $0 / mib }))
figures.append(BenchFigure(key: "stream.unordered.peak", label: "StreamProcessor (unordered) peak allocated above baseline", unit: "MiB", runs: unorderedPeaks.map { $0 / mib }))
figures.append(BenchFigure(key: "stream.bulk.peak", label: "bulk submit peak allocated above baseline", unit: "MiB", runs: bulkPeaks.map { $0 / mib }))
figures.append(BenchFigure(key: "stream.time", label: "StreamProcessor (ordered)", unit: "s", runs: streamTimes))
figures.append(BenchFigure(key: "stream.unordered.time", label: "StreamProcessor (unordered)", unit: "s", runs: unorderedTimes))
figures.append(BenchFigure(key: "stream.bulk.time", label: "bulk submit", unit: "s", runs: bulkTimes))
figures.append(BenchFigure(key: "stream.time/bulk", label: "StreamProcessor throughput × bulk", unit: "×", runs: streamVsBulk))
let bound = Double(memoryLimit + streamChunk * 4_096)
let source = usesJemalloc ? "jemalloc stats.allocated" : "RSS"
let worstPeak = (streamPeaks + unorderedPeaks).max() ?? .infinity
aims.append(BenchAim(text: "stream peak bytes (\(source), whole process above its baseline) ≤ memoryLimit + one chunk (\(Int(bound / mib)) MiB), input 21× memoryLimit, every run ordered and unordered",
                     result: String(format: "max %.1f MiB (bulk: %.0f MiB)", worstPeak / mib, median(bulkPeaks) / mib),
                     met: worstPeak <= bound))
aims.append(BenchAim(text: "stream throughput ≥ 0.7× the same work submitted in bulk (ordered)",
                     result: String(format: "%.2f× (unordered %.2f×)", median(streamVsBulk), median(unorderedVsBulk)), met: median(streamVsBulk) >= 0.7))

let defaultShards = try ResultCache<Int, Int>(maxEntries: 2 * cacheSize).shardCount
let throughputRows: [[String]] = [
    ["ResultCache hits/s, 2 threads (\(defaultShards) shards)", String(format: "%.2f M", median(cacheHitRates) / 1e6), String(format: "%.2f×", median(hitRatioVsMutex))],
    ["ResultCache hits/s, 2 threads (1 shard)", String(format: "%.2f M", median(oneShardHitRates) / 1e6), String(format: "%.2f×", median(zip(oneShardHitRates, mutexHitRates).map { $0 / $1 }))],
    ["Mutex<Dictionary> hits/s, 2 threads (peer)", String(format: "%.2f M", median(mutexHitRates) / 1e6), "1×"],
    ["1000 identical requests, single-flight", String(format: "%.1f ms", median(coalescedTimes) * 1e3), String(format: "%.1f×", median(zip(uncachedTimes, coalescedTimes).map { $0 / $1 }))],
    ["1000 identical requests, uncached (peer; \(computeMicroseconds) µs each, 2 workers)", String(format: "%.1f ms", median(uncachedTimes) * 1e3), "1×"],
    ["StreamProcessor ordered, \(streamElements) × 4 KiB (\((streamElements * 4_096) >> 20) MiB), limit 16 MiB", String(format: "%.0f ms, peak %.1f MiB", median(streamTimes) * 1e3, median(streamPeaks) / mib), String(format: "%.2f×", median(streamVsBulk))],
    ["StreamProcessor unordered", String(format: "%.0f ms", median(unorderedTimes) * 1e3), String(format: "%.2f×", median(unorderedVsBulk))],
    ["bulk submit of the same chunks (peer)", String(format: "%.0f ms, peak %.1f MiB", median(bulkTimes) * 1e3, median(bulkPeaks) / mib), "1×"],
]
let method = "release build; medians of \(options.runs) runs; hit ratios through ResultCache (default shards) on \(traceLength) accesses per run "
    + "(own seed per run), Bélády with bypass on the same trace; the scan (\(scanLength) new keys, one after each Zipf access from a third of the way) "
    + "is judged on the Zipf accesses during it and as many after it, against the same accesses without the scan; hits/s on 2 OS threads over \(cacheSize) preloaded keys; "
    + "stream peak = max of \(source) sampled every 200 µs minus the value before the run"
let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("model name") }
    .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown CPU"
let machine = "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) CPUs"
let tables = [
    BenchTable(title: "ResultCache hit ratio (10⁶ keys, cache 1 %)", note: "Median over runs; the last column is W-TinyLFU − LRU, or each policy's drop under the scan.",
               header: ["trace", "W-TinyLFU", "LRU", "Bélády (optimal)", "difference"], rows: rows),
    BenchTable(title: "ResultCache and StreamProcessor throughput", note: "Ratios against the peer of the same run (> 1 is better).",
               header: ["workload", "median", "× peer"], rows: throughputRows),
]
let document = BenchDocument(
    id: "cache", title: "ResultCache and StreamProcessor", machine: machine,
    date: ISO8601DateFormatter().string(from: Date()), revision: options.revision, method: method,
    figures: figures, aims: aims, tables: tables)

try options.publish(document)
