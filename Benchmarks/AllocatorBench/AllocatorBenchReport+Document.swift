import BenchSupport
import ConveyorReport

extension AllocatorBenchReport {
    /// The allocator comparison as a part of the `make bench` report: every sample's figures,
    /// the tables, and charts of speed against glibc, the burst's memory and the engine's latency.
    var document: BenchDocument {
        let mebibyte = 1_048_576.0
        var figures: [BenchFigure] = []
        let fields: [(String, String, (AllocatorSample) -> Double?)] = [
            ("nsPerOp", "ns/op", { $0.nanosecondsPerOperation }),
            ("opsPerSecond", "ops/s", { $0.operationsPerSecond }),
            ("peakResident", "MiB", { Double($0.peakResidentBytes) / mebibyte }),
            ("fragmentation", "resident ÷ live", { $0.fragmentation }),
            ("released", "MiB", { $0.releasedBytes.map { Double($0) / mebibyte } }),
            ("keptAfterRelease", "MiB", { sample in
                guard let after = sample.residentAfterReleaseBytes, let before = sample.residentBeforeBurstBytes else { return nil }
                return Double(after - before) / mebibyte
            }),
            ("tasksPerSecond", "tasks/s", { $0.tasksPerSecond }),
            ("latencyP50", "µs", { $0.latencyP50Nanoseconds.map { $0 / 1000 } }),
            ("latencyP99", "µs", { $0.latencyP99Nanoseconds.map { $0 / 1000 } }),
            ("engineCPU", "% of a core", { $0.engineCPUPercent }),
        ]
        let ratioFields: [(String, KeyPath<AllocatorRatios, Double?>)] = [
            ("speed", \.speed), ("peakResident", \.peakResident), ("fragmentation", \.fragmentation),
            ("released", \.released), ("tasksPerSecond", \.tasksPerSecond), ("latencyP99", \.latencyP99),
            ("engineCPU", \.engineCPU),
        ]
        for result in self.results {
            let prefix = "allocators.\(result.workload).\(result.allocator)"
            for (key, unit, value) in fields {
                let runs = result.samples.compactMap(value)
                guard runs.count == result.samples.count, !runs.isEmpty else { continue }
                figures.append(BenchFigure(key: "\(prefix).\(key)", label: "\(result.workload), \(result.allocator): \(key)", unit: unit, runs: runs))
            }
            if let ratios = result.ratiosToGlibc {
                for (key, path) in ratioFields {
                    guard let ratio = ratios[keyPath: path] else { continue }
                    figures.append(BenchFigure(
                        key: "\(prefix).\(key)/glibc", label: "\(result.workload), \(result.allocator): \(key) × glibc (> 1 better)",
                        unit: "×", runs: [ratio]))
                }
            }
        }

        let allocators = self.allocators.map(\.name)
        func lookup(_ workload: AllocatorWorkload, _ allocator: String) -> AllocatorWorkloadResult? {
            self.results.first { $0.workload == workload.rawValue && $0.allocator == allocator }
        }
        func series(_ name: String, _ workload: AllocatorWorkload, _ value: (AllocatorSample) -> Double?) -> ChartSeries {
            ChartSeries(name: name, points: allocators.enumerated().compactMap { index, allocator in
                guard let result = lookup(workload, allocator), let median = value(result.median) else { return nil }
                let runs = result.samples.compactMap(value)
                return ChartPoint(x: Double(index), y: median, low: runs.min(), high: runs.max())
            })
        }
        var charts: [BenchChart] = []
        let speedSeries = [AllocatorWorkload.churn, .producerConsumer].filter { self.workloads.contains($0.rawValue) }.map { workload in
            ChartSeries(name: workload.title, points: allocators.enumerated().compactMap { index, allocator in
                guard let result = lookup(workload, allocator), let glibc = lookup(workload, "glibc"),
                    let mine = result.median.nanosecondsPerOperation, let peer = glibc.median.nanosecondsPerOperation, mine > 0
                else { return nil }
                return ChartPoint(x: Double(index), y: result.ratiosToGlibc?.speed ?? peer / mine)
            })
        }
        if speedSeries.contains(where: { !$0.points.isEmpty }) {
            charts.append(BenchChart(
                kind: .bars, title: "Allocation speed against glibc malloc",
                note: "glibc ns/op ÷ the allocator's ns/op, median over runs of the paired ratio; > 1 is faster.",
                valueLabel: "× glibc (speed)", valueScale: .log, categories: allocators, series: speedSeries,
                reference: ChartReference(value: 1, label: "glibc")))
        }
        if self.workloads.contains(AllocatorWorkload.burst.rawValue) {
            charts.append(BenchChart(
                kind: .bars, title: "Mixed-size burst: memory",
                note: "Peak RSS of the child process; memory the release call returned; resident memory left above the "
                    + "pre-burst level after everything was freed and released.",
                valueLabel: "MiB", categories: allocators,
                series: [
                    series("peak RSS", .burst) { Double($0.peakResidentBytes) / mebibyte },
                    series("returned by release", .burst) { $0.releasedBytes.map { Double($0) / mebibyte } },
                    series("kept after release", .burst) { sample in
                        guard let after = sample.residentAfterReleaseBytes, let before = sample.residentBeforeBurstBytes else { return nil }
                        return Double(max(0, after - before)) / mebibyte
                    },
                ]))
            charts.append(BenchChart(
                kind: .bars, title: "Mixed-size burst: fragmentation after freeing 3 of 4 blocks",
                note: "(RSS − RSS before the burst) ÷ bytes still allocated; 1 would be no overhead.",
                valueLabel: "resident ÷ live", categories: allocators,
                series: [series("fragmentation", .burst) { $0.fragmentation }],
                reference: ChartReference(value: 1, label: "no overhead")))
        }
        if self.workloads.contains(AllocatorWorkload.engine.rawValue) {
            charts.append(BenchChart(
                kind: .bars, title: "The engine at a fixed rate, task records on each allocator: submit → start",
                note: "p50 and p99 (median over runs, min–max as the line). On 2 cores the p99 is dominated by scheduling noise.",
                valueLabel: "µs", valueScale: .log, categories: allocators,
                series: [
                    series("p50", .engine) { $0.latencyP50Nanoseconds.map { $0 / 1000 } },
                    series("p99", .engine) { $0.latencyP99Nanoseconds.map { $0 / 1000 } },
                ]))
        }
        let setup = BenchTable(
            title: "Allocators", note: "How each child process got its allocator and what the release step calls.",
            header: ["allocator", "LD_PRELOAD", "malloc served by", "version", "allocates from", "release call"],
            rows: self.allocators.map { [$0.name, $0.preload ?? "—", $0.library, $0.version, $0.allocationPath, $0.releaseCall] })
        let tables = [setup] + self.tables.map { table in
            BenchTable(
                title: table.title, note: table.note.replacing("**", with: ""), header: table.header,
                rows: table.rows.map { $0.map { $0.replacing("**", with: "").replacing("`", with: "") } })
        }
        return BenchDocument(
            id: "allocators", title: "Allocators: glibc, jemalloc, mimalloc, tcmalloc and the slab pool, one child process each",
            machine: self.machine, date: self.date, revision: self.gitRevision,
            method: (self.method + " " + self.ratioLegend).replacing("**", with: "").replacing("`", with: ""),
            figures: figures, tables: tables, charts: charts)
    }
}
