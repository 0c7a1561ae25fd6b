// conveyor-corebench: the Conveyor core comparison table (rings vs wfcqueue and Mutex<Deque>,
// slab pool vs jemalloc vs glibc), measured in one process without a malloc interposer.
//
//   swift run -c release --package-path Benchmarks conveyor-corebench [--runs N] [--markdown FILE]
import BenchSupport
import CBenchSupport
import Conveyor

#if canImport(Glibc)
import Glibc
#endif

// MARK: Options (argv by hand)

struct Options {
    var runs = 5
    var seconds = 0.3
    var markdownPath: String?
    var documentPath: String?
    var pin = true
    var revision: String?
    var only: [String] = []
}

let usage = """
    usage: conveyor-corebench [--runs N] [--markdown FILE] [--json FILE] [--seconds S] [--quick] [--only KEYS] [--no-pin] [--revision TEXT]
      --runs N         measured runs per workload, interleaved round-robin (default 5; the project asks for ≥ 5)
      --markdown FILE  also write the table as Markdown to FILE
      --json FILE      also write every run and ratio as a bench-report document (JSON) to FILE
      --seconds S      target duration of one run of one workload (default 0.3; sets the item counts)
      --quick          smoke test: --runs 1 --seconds 0.03 (numbers not meaningful)
      --no-pin         do not pin threads to CPUs (default: thread i on the i-th allowed CPU)
      --revision TEXT  revision to print instead of asking git
      --only KEYS      comma-separated substrings of workload keys to run (e.g. cross.,same.slab); peers
                       not selected show no ratio
    """

func fail(_ message: String) -> Never {
    printError("conveyor-corebench: \(message)\n\(usage)\n")
    exit(2)
}

func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var index = 0
    func value(_ name: String) -> String {
        index += 1
        guard index < arguments.count else { fail("\(name) needs a value") }
        return arguments[index]
    }
    while index < arguments.count {
        let argument = arguments[index]
        switch argument {
        case "--runs":
            guard let runs = Int(value(argument)), runs >= 1 else { fail("--runs wants a positive integer") }
            options.runs = runs
        case "--seconds":
            guard let seconds = Double(value(argument)), seconds > 0, seconds <= 60 else {
                fail("--seconds wants a number of seconds (0 < S ≤ 60)")
            }
            options.seconds = seconds
        case "--markdown": options.markdownPath = value(argument)
        case "--json": options.documentPath = value(argument)
        case "--quick":
            options.runs = 1
            options.seconds = 0.03
        case "--no-pin": options.pin = false
        case "--revision": options.revision = value(argument)
        case "--only": options.only = value(argument).split(separator: ",").map(String.init)
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown argument \(argument)")
        }
        index += 1
    }
    return options
}

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
let pin = options.pin && cb_allowed_cpu_count() > 1

// MARK: Workloads

var sections: [Section] = []
var workloads: [Workload] = []

@MainActor
func section(_ title: String, note: String, peers: [String]) -> Int {
    sections.append(Section(title: title, note: note, peerColumns: peers))
    return sections.count - 1
}

@MainActor
func add(
    _ sectionIndex: Int, _ key: String, _ label: String, calibration: Int, peers: [String?], aim: (column: Int, aim: Aim)? = nil,
    _ run: @escaping (Int) -> Double
) {
    workloads.append(
        Workload(section: sectionIndex, key: key, label: label, calibrationItems: calibration, peers: peers, aim: aim, run: run))
}

@MainActor
func channelWorkload<C: Channel>(
    _ make: @escaping () -> C, producers: Int, consumers: Int, sendBatch: Int, receiveBatch: Int
) -> (Int) -> Double {
    { items in
        transfer(make(), producers: producers, consumers: consumers, items: items,
                 sendBatch: sendBatch, receiveBatch: receiveBatch, pin: pin)
    }
}

let wfcqueueLabel = "liburcu wfcqueue (nodes from slab pool)"

// (a) 1p1c single-item ops, with both peers.
let single = section(
    "Rings, 1 producer × 1 consumer, single-item ops",
    note: "One item per call on both sides. wfcqueue: one enqueue per item, `drain` of 1. "
        + "Mutex<Deque>: one lock per item. Every queue is held to a backlog of 1024.",
    peers: ["× wfcqueue", "× Mutex<Deque>"])
let singlePeers: [String?] = ["wfcq.single", "deque.single"]
add(single, "mpmc.single", "MPMCRing tryEnqueue / tryDequeue", calibration: 200_000, peers: singlePeers,
    channelWorkload(RingSingle<MPMCRing>.init, producers: 1, consumers: 1, sendBatch: 1, receiveBatch: 1))
add(single, "spsc.single", "SPSCRing tryEnqueue / tryDequeue", calibration: 200_000, peers: singlePeers,
    channelWorkload(RingSingle<SPSCRing>.init, producers: 1, consumers: 1, sendBatch: 1, receiveBatch: 1))
add(single, "wfcq.single", wfcqueueLabel + ": enqueue / drain 1", calibration: 200_000, peers: singlePeers,
    channelWorkload(Wfcqueue.init, producers: 1, consumers: 1, sendBatch: bulkBatch, receiveBatch: 1))
add(single, "deque.single", "Mutex<Deque<UInt>>: append / removeFirst", calibration: 200_000, peers: singlePeers,
    channelWorkload(LockedDeque.init, producers: 1, consumers: 1, sendBatch: 1, receiveBatch: 1))

// (b) 1p1c bulk ops, batch 32.
let bulk = section(
    "Rings, 1 producer × 1 consumer, bulk ops (batch 32)",
    note: "Up to 32 items per call on both sides (rings: one CAS or one index store per batch). "
        + "wfcqueue has no bulk enqueue: 32 single enqueues, then `drain` of up to 32. "
        + "Mutex<Deque>: up to 32 items per lock.",
    peers: ["× wfcqueue", "× Mutex<Deque>"])
let bulkPeers: [String?] = ["wfcq.bulk", "deque.bulk"]
let ringAim = (column: 0, aim: Aim("≥ 2× wfcqueue 1p1c", atLeast: 2))
add(bulk, "mpmc.bulk", "MPMCRing enqueue(contentsOf:) / dequeue(into:)", calibration: 1_000_000, peers: bulkPeers,
    aim: ringAim, channelWorkload(RingBulk<MPMCRing>.init, producers: 1, consumers: 1, sendBatch: bulkBatch, receiveBatch: bulkBatch))
add(bulk, "spsc.bulk", "SPSCRing enqueue(contentsOf:) / dequeue(into:)", calibration: 1_000_000, peers: bulkPeers,
    aim: ringAim, channelWorkload(RingBulk<SPSCRing>.init, producers: 1, consumers: 1, sendBatch: bulkBatch, receiveBatch: bulkBatch))
add(bulk, "wfcq.bulk", wfcqueueLabel + ": enqueue ×32 / drain ≤ 32", calibration: 200_000, peers: bulkPeers,
    channelWorkload(Wfcqueue.init, producers: 1, consumers: 1, sendBatch: bulkBatch, receiveBatch: bulkBatch))
add(bulk, "deque.bulk", "Mutex<Deque<UInt>>: append(contentsOf:) / removeFirst ×n", calibration: 500_000, peers: bulkPeers,
    channelWorkload(LockedDeque.init, producers: 1, consumers: 1, sendBatch: bulkBatch, receiveBatch: bulkBatch))

// (c) MPMC 2p2c.
let mpmc = section(
    "MPMCRing, 2 producers × 2 consumers",
    note: "Four threads on the machine's CPUs (pinned round-robin: each CPU runs one producer and one consumer). "
        + "wfcqueue is left out: it allows one drainer at a time.",
    peers: ["× Mutex<Deque> single", "× Mutex<Deque> bulk"])
let mpmcPeers: [String?] = ["deque2.single", "deque2.bulk"]
add(mpmc, "mpmc2.single", "MPMCRing single-item ops", calibration: 200_000, peers: mpmcPeers,
    channelWorkload(RingSingle<MPMCRing>.init, producers: 2, consumers: 2, sendBatch: 1, receiveBatch: 1))
add(mpmc, "mpmc2.bulk", "MPMCRing bulk ops (batch 32)", calibration: 1_000_000, peers: mpmcPeers,
    channelWorkload(RingBulk<MPMCRing>.init, producers: 2, consumers: 2, sendBatch: bulkBatch, receiveBatch: bulkBatch))
add(mpmc, "deque2.single", "Mutex<Deque<UInt>> single-item ops", calibration: 200_000, peers: mpmcPeers,
    channelWorkload(LockedDeque.init, producers: 2, consumers: 2, sendBatch: 1, receiveBatch: 1))
add(mpmc, "deque2.bulk", "Mutex<Deque<UInt>> bulk ops (batch 32)", calibration: 500_000, peers: mpmcPeers,
    channelWorkload(LockedDeque.init, producers: 2, consumers: 2, sendBatch: bulkBatch, receiveBatch: bulkBatch))

// (e) Allocators. Each allocator object lives for the whole process (the slab pools keep
// their slabs between runs, as in a long-running engine).
struct AllocatorCase {
    let short: String
    let label: String
    let sameThread: (Int) -> Double
    let crossThread: (Int) -> Double
}

@MainActor
func allocatorCase<A: BenchAllocator>(_ short: String, _ label: String, _ allocator: A) -> AllocatorCase {
    AllocatorCase(
        short: short, label: label,
        sameThread: { sameThreadChurn(allocator, pairs: $0, pin: pin) },
        crossThread: { crossThreadHandOff(allocator, objects: $0, pin: pin) })
}

@MainActor
func allocatorCases(size: Int) -> [AllocatorCase] {
    guard let jemalloc = JemallocDirect(size: size) else { fail("jemalloc (mallocx) is not in this process") }
    do {
        return [
            allocatorCase("glibc", "glibc __libc_malloc / __libc_free", GlibcDirect(size: size)),
            allocatorCase("jemalloc", "jemalloc mallocx / sdallocx", jemalloc),
            allocatorCase("slab", "Conveyor SlabPool", SlabDirect(pool: try SlabPool(objectSize: size), objectSize: size)),
            allocatorCase("seam.slab", "FixedSizeAllocator(.slabPool)",
                          ThroughSeam(allocator: try FixedSizeAllocator(.slabPool, objectSize: size))),
        ]
    } catch {
        fail("cannot create the \(size)-byte allocators: \(error)")
    }
}

let sizes = [64, 256]
let casesBySize = sizes.map { allocatorCases(size: $0) }

let sameThread = section(
    "Allocators, same thread (alloc + free churn)",
    note: "One thread repeats: allocate 64 objects (writing one word into each), then free the 64 in "
        + "allocation order. ns per allocate+free pair. Each allocator through its own API; the last row of "
        + "each size is the slab pool again through the FixedSizeAllocator seam.",
    peers: ["× jemalloc", "× glibc"])
for (size, cases) in zip(sizes, casesBySize) {
    for item in cases {
        add(sameThread, "same.\(item.short).\(size)", "\(size) B: \(item.label)", calibration: 1_000_000,
            peers: ["same.jemalloc.\(size)", "same.glibc.\(size)"],
            aim: item.short == "slab" ? (0, Aim("≥ 2× mallocx/sdallocx same-thread", atLeast: 2)) : nil,
            item.sameThread)
    }
}

let crossThread = section(
    "Allocators, cross thread (producer allocates, consumer frees)",
    note: "The producer allocates an object, writes one word into it and passes the pointer through an "
        + "SPSCRing in batches of 32; the consumer reads the word and frees the object. ns per object. "
        + "The first row is the same hand-off with no allocation: the floor every row includes. "
        + "The last row of each size is the slab pool through the FixedSizeAllocator seam.",
    peers: ["× jemalloc", "× glibc"])
add(crossThread, "cross.floor", "hand-off only (SPSCRing, no allocation)", calibration: 1_000_000, peers: [nil, nil]) {
    objects in crossThreadHandOff(GlibcDirect?.none, objects: objects, pin: pin)
}
for (size, cases) in zip(sizes, casesBySize) {
    for item in cases {
        add(crossThread, "cross.\(item.short).\(size)", "\(size) B: \(item.label)", calibration: 500_000,
            peers: ["cross.jemalloc.\(size)", "cross.glibc.\(size)"],
            aim: item.short == "slab" ? (1, Aim("≥ 1.5× glibc cross-thread", atLeast: 1.5)) : nil,
            item.crossThread)
    }
}

// MARK: Run

if !options.only.isEmpty {
    workloads.removeAll { workload in !options.only.contains { workload.key.contains($0) } }
    if workloads.isEmpty { fail("--only matched no workload") }
}

let machine = machineDescription(revision: options.revision, allocators: true)
printError("conveyor-corebench: \(workloads.count) workloads × \(options.runs) runs, ~\(options.seconds) s each\n")
printError(machine + "\n")
if options.runs < 5 { printError("note: fewer than 5 runs; the project's rule is the median of ≥ 5\n") }

// Calibration (also the warm-up): size each workload so that one run takes about `seconds`.
let quantum = 4096  // divisible by both batch sizes (32, 64) and by 2 producers
for index in workloads.indices {
    let calibration = workloads[index].calibrationItems
    let nanoseconds = max(0.05, workloads[index].run(calibration))
    let wanted = options.seconds * 1e9 / nanoseconds
    let items = min(max(Int(wanted) / quantum, 16), 100_000_000 / quantum) * quantum
    workloads[index].items = items
}

// Measured runs, round-robin so that slow drifts of the machine hit every workload alike.
let startDate = utcTimestamp()
let started = nowNanoseconds()
for round in 1...options.runs {
    printError("run \(round)/\(options.runs)…\n")
    for index in workloads.indices {
        workloads[index].samples.append(workloads[index].run(workloads[index].items))
    }
}
let minutes = Double(nowNanoseconds() - started) / 60e9

let method =
    "ns/op: wall time from a start gate until the last thread finished ÷ items; median of \(options.runs) runs "
    + "(min–max shown), runs interleaved round-robin over all workloads in one process. "
    + "Ratio ×peer: median over runs of (peer ns/op ÷ row ns/op); > 1 means faster than the peer. "
    + "OS threads (pthreads)\(pin ? ", pinned one per CPU" : ", not pinned"); queues hold ≤ 1024 items. "
    + "Measuring took \(fixed(minutes, 1)) min."
let report = Report(machine: machine, method: method, sections: sections, workloads: workloads)
print(report.text, terminator: "")

if let path = options.markdownPath {
    guard let file = fopen(path, "w") else { fail("cannot write \(path)") }
    fputs(report.markdown, file)
    fclose(file)
    printError("Markdown written to \(path)\n")
}

if let path = options.documentPath {
    do {
        try report.document(date: startDate, revision: options.revision ?? gitRevision()).write(to: path)
    } catch {
        fail("\(error)")
    }
    printError("JSON written to \(path)\n")
}
