// Builds the report from the children's samples, and says how every figure was taken.
import BenchSupport

extension AllocatorBenchReport {
    init(
        machine: String, date: String, gitRevision: String, runs: Int, quick: Bool, seed: UInt64, minutes: Double,
        contenders: [AllocatorContender], workloads: [AllocatorWorkload], preloads: [AllocatorContender: String],
        samples: [AllocatorContender: [AllocatorWorkload: [AllocatorSample]]]
    ) {
        let sizes = AllocatorBenchSizes(quick: quick)
        var results: [AllocatorWorkloadResult] = []
        for workload in workloads {
            let glibc = samples[.glibc]?[workload]
            for contender in contenders {
                guard let mine = samples[contender]?[workload], !mine.isEmpty else { continue }
                results.append(AllocatorWorkloadResult(
                    allocator: contender.rawValue, workload: workload.rawValue, samples: mine,
                    median: AllocatorSample.median(of: mine),
                    ratiosToGlibc: contender == .glibc ? nil : glibc.map { AllocatorRatios(mine, glibc: $0) }))
            }
        }
        let allocators = contenders.map { contender in
            let first = workloads.lazy.compactMap { samples[contender]?[$0]?.first }.first
            let version = first?.allocatorVersion ?? "unknown"
            return AllocatorDescription(
                name: contender.rawValue, preload: preloads[contender], library: first?.mallocProvider ?? "unknown",
                version: contender == .slab ? "Conveyor SlabPool (mmap slabs) on glibc \(version)" : version,
                allocationPath: contender.allocationPath, releaseCall: contender.releaseCall)
        }
        self.init(
            machine: machine, date: date, gitRevision: gitRevision, runs: runs, quick: quick, seed: seed, minutes: minutes,
            loadAverageAtEnd: firstLine(of: "/proc/loadavg")?.split(separator: " ").first.map(String.init) ?? "?",
            method: Self.method(sizes: sizes, runs: runs, quick: quick), sizes: sizes, allocators: allocators,
            workloads: workloads.map(\.rawValue), results: results)
    }

    static func method(sizes: AllocatorBenchSizes, runs: Int, quick: Bool) -> String {
        let mebibytes = sizes.burstTargetBytes >> 20
        var text = "`conveyor-allocators --runs \(runs)\(quick ? " --quick" : "")`: every (allocator, workload, run) is a "
        text += "child process of its own, the same release binary built **without jemalloc linked** "
        text += "(`--disable-default-traits`), started with `LD_PRELOAD` set to `libjemalloc.so.2`, `libmimalloc.so.2` or "
        text += "`libtcmalloc_minimal.so.4` (found with `ldconfig -p`), and with no preload for glibc and slab; no malloc "
        text += "interposer. Each child checks first that the intended allocator serves `malloc` (the file that defines "
        text += "`malloc`, from /proc/self/maps, and the allocator's own symbol from that same file: `mallctl`, "
        text += "`mi_version`, `tc_version`; none of them for glibc) and fails otherwise. Runs are interleaved "
        text += "round-robin (each workload once on every allocator, the first allocator rotating from run to run); "
        text += "every figure is the median over runs; **× glibc is the median over runs of the paired per-run ratio, "
        text += "oriented so that > 1 is better than glibc** (faster, smaller, less fragmented, more returned, lower "
        text += "latency or CPU). **Peak RSS is per child process** (VmHWM when its workload ended), so it includes the "
        text += "Swift runtime's own start-up memory.\n\n"
        text += "**Churn**: one thread keeps \(sizes.churnWorkingSet) task records of \(sizes.recordBytes) B "
        text += "(`Conveyor.taskRecordSize`) live and per operation frees a pseudo-random one (seeded SplitMix64) and "
        text += "allocates its replacement, writing its first and last word; ns per free + allocate over "
        text += "\(sizes.churnOperations) operations after a tenth as many as warm-up. malloc contenders go through "
        text += "`FixedSizeAllocator(.process)` (plain `malloc`/`free`), slab through `FixedSizeAllocator(.slabPool)`: "
        text += "the same call path. **Producer/consumer**: a producer thread allocates \(sizes.recordBytes)-B records, "
        text += "writes a sequence number into each and passes them through an `SPSCRing` of \(sizes.handOffRingCapacity) "
        text += "slots in batches of \(sizes.handOffBatch); the consumer thread checks the number and frees the record "
        text += "(every free is cross-thread); ns per record over \(sizes.handOffOperations), from the start signal "
        text += "until the consumer freed the last. "
        text += "**Burst**: the allocator's release step first (a clean baseline), then blocks of log-uniform sizes "
        text += "from \(sizes.burstMinimumBytes) B to \(sizes.burstMaximumBytes) B (⌊min · (max/min)^u⌋, seeded) until "
        text += "their requested bytes reach \(mebibytes) MiB, every byte written; \(Int(sizes.burstFreedShare * 100)) % "
        text += "of them freed in seeded random order; **fragmentation = (RSS after that partial free − RSS before the "
        text += "burst) ÷ requested bytes still live** (1 = no waste). Then the rest is freed and the release step — the "
        text += "`releaseMemory()` equivalent — runs: glibc `malloc_trim(0)`; jemalloc `mallctl(\"thread.tcache.flush\")` + "
        text += "`mallctl(\"arena.<MALLCTL_ARENAS_ALL>.purge\")`; mimalloc `mi_collect(true)`; tcmalloc "
        text += "`MallocExtension_ReleaseFreeMemory()` (each looked up with dlsym, as none is linked); slab "
        text += "`MemoryOptimizer.releaseMemory()` over one `SlabPool` per power-of-two class from 16 B to "
        text += "\(sizes.burstMaximumBytes) B (flush this thread's magazines, release every free slab with munmap, "
        text += "`malloc_trim(0)`). \"Returned\" = RSS after freeing everything − RSS after the release step; \"kept\" = "
        text += "RSS above the pre-burst baseline. malloc contenders get the exact sizes; slab rounds each up to its "
        text += "class, and that rounding counts in its fragmentation. "
        text += "**Engine**: a `Conveyor` with one group (1 worker, timing on) whose task records come from "
        text += "`recordAllocator: .process` (slab: `.slabPool`), fed typed tasks by `conveyor-enginebench`'s open-loop "
        text += "generator: Poisson arrivals at \(rateText(sizes.engineRate)) for \(fixed(sizes.engineSeconds, 1)) s, the "
        text += "generator spinning to each scheduled time, the first \(Int(sizes.engineWarmupShare * 100)) % not "
        text += "measured; tasks/s = measured tasks ÷ (first measured scheduled time → last completion); latency = "
        text += "handler start − scheduled time, nearest-rank; engine CPU = getrusage(RUSAGE_SELF) user + sys over the "
        text += "window − the generator thread's own CPU (CLOCK_THREAD_CPUTIME_ID), in % of one core."
        return text
    }
}
