// The report as tables: compact plain text for the terminal, Markdown with the method and
// the allocators' setup for the file.
import BenchSupport

extension AllocatorBenchReport {
    /// The line that says which way every ratio points.
    var ratioLegend: String {
        "× glibc: median over runs of the paired per-run ratio; **> 1 means better than glibc** (faster, less memory, "
            + "less fragmented, more returned, more tasks/s, lower latency or CPU)."
    }

    var tables: [TextTable] {
        self.workloads.compactMap(AllocatorWorkload.init(rawValue:)).map { workload in
            let results = self.results.filter { $0.workload == workload.rawValue }
            var table: TextTable
            switch workload {
            case .churn, .producerConsumer:
                table = TextTable(
                    title: workload.title,
                    note: workload == .churn
                        ? "\(self.sizes.recordBytes)-B records, \(self.sizes.churnWorkingSet) live; one op = free + allocate."
                        : "\(self.sizes.recordBytes)-B records through an SPSCRing in batches of \(self.sizes.handOffBatch); "
                            + "one op = allocate on the producer + free on the consumer.",
                    header: ["Allocator", "ns/op", "min–max", "ops/s", "× glibc (speed)", "peak RSS", "× glibc (RSS)"],
                    rows: results.map { result in
                        let perOperation = result.samples.compactMap(\.nanosecondsPerOperation)
                        return [
                            result.allocator, Self.number(result.median.nanosecondsPerOperation),
                            Self.range(perOperation, significant), result.median.operationsPerSecond.map(rateText) ?? "—",
                            self.ratioCell(result, \.speed), Self.mebibytes(result.median.peakResidentBytes),
                            self.ratioCell(result, \.peakResident),
                        ]
                    })
            case .burst:
                let live = results.first?.median.liveBytes.map(Self.mebibytes) ?? "—"
                table = TextTable(
                    title: workload.title,
                    note: "\(self.sizes.burstTargetBytes >> 20) MiB requested in blocks of \(self.sizes.burstMinimumBytes) B–"
                        + "\(self.sizes.burstMaximumBytes) B (log-uniform), \(live) still live after freeing 3 of 4. "
                        + "Fragmentation = RSS growth ÷ live bytes; kept = RSS above the pre-burst baseline; returned = "
                        + "RSS the release step (`releaseMemory()` equivalent) gave back; MADV_FREE = resident pages marked "
                        + "free that the kernel reclaims only under memory pressure (RSS still counts them).",
                    header: ["Allocator", "fragmentation", "min–max", "× glibc", "peak RSS", "kept after free-all",
                              "returned by release", "kept after release", "of it MADV_FREE", "× glibc (returned)"],
                    rows: results.map { result in
                        let median = result.median
                        let baseline = median.residentBeforeBurstBytes ?? 0
                        return [
                            result.allocator, Self.number(median.fragmentation),
                            Self.range(result.samples.compactMap(\.fragmentation), significant),
                            self.ratioCell(result, \.fragmentation), Self.mebibytes(median.peakResidentBytes),
                            median.residentAfterFreeAllBytes.map { Self.mebibytes($0 - baseline) } ?? "—",
                            median.releasedBytes.map(Self.mebibytes) ?? "—",
                            median.residentAfterReleaseBytes.map { Self.mebibytes($0 - baseline) } ?? "—",
                            median.lazyFreeAfterReleaseBytes.map(Self.mebibytes) ?? "—",
                            self.ratioCell(result, \.released),
                        ]
                    })
            case .engine:
                table = TextTable(
                    title: workload.title,
                    note: "Poisson arrivals at \(rateText(self.sizes.engineRate)) for \(fixed(self.sizes.engineSeconds, 1)) s, "
                        + "1 worker; latency submit → handler start; engine CPU = process − generator thread, % of one core. "
                        + "The generator spins on one core and the worker mostly on the other, so p99 also measures "
                        + "preemption by anything else that runs: read it with its range over runs.",
                    header: ["Allocator", "tasks/s", "p50 µs", "p99 µs", "p99 min–max", "engine CPU", "peak RSS",
                              "× glibc (tasks/s)", "× glibc (p99)", "× glibc (CPU)", "× glibc (RSS)"],
                    rows: results.map { result in
                        let median = result.median
                        return [
                            result.allocator, median.tasksPerSecond.map(rateText) ?? "—",
                            median.latencyP50Nanoseconds.map(microseconds) ?? "—",
                            median.latencyP99Nanoseconds.map(microseconds) ?? "—",
                            Self.range(result.samples.compactMap(\.latencyP99Nanoseconds), microseconds),
                            median.engineCPUPercent.map { fixed($0, 1) + " %" } ?? "—", Self.mebibytes(median.peakResidentBytes),
                            self.ratioCell(result, \.tasksPerSecond), self.ratioCell(result, \.latencyP99),
                            self.ratioCell(result, \.engineCPU), self.ratioCell(result, \.peakResident),
                        ]
                    })
            }
            for result in results {
                let worst = result.samples.compactMap(\.damagedBlocks).max() ?? 0
                if worst > 0 {
                    table.footnotes.append(
                        "**Warning:** \(result.allocator) had \(worst) damaged or lost \(workload == .engine ? "tasks" : "blocks") "
                            + "in a run: its figures are suspect.")
                }
            }
            return table
        }
    }

    /// The terminal output: the legend and the tables, no method.
    var terminalText: String {
        var out = "Allocators: median of \(self.runs) run\(self.runs == 1 ? "" : "s"), one child process each; "
            + "load average \(self.loadAverageAtEnd) at the end"
        out += self.quick ? " (quick: numbers not meaningful)\n" : "\n"
        out += self.ratioLegend.replacingOccurrences(of: "**", with: "") + "\n"
        for table in self.tables { out += "\n" + table.plainText.replacingOccurrences(of: "**", with: "") }
        return out
    }

    /// The Markdown file: machine, method, the allocators' setup, then the tables.
    var markdown: String {
        var out = "**Machine:** \(self.machine)\n\n\(self.method)\n\n\(self.ratioLegend)\n\n"
        out += TextTable(
            title: "", header: ["Allocator", "Preload", "Library serving malloc", "Version", "Release step (`releaseMemory()` equivalent)"],
            rows: self.allocators.map {
                [$0.name, $0.preload.map { "`\($0)`" } ?? "none", "`\($0.library)`", $0.version, $0.releaseCall]
            },
            leftAligned: [0, 1, 2, 3, 4]
        ).markdown()
        for table in self.tables { out += "\n" + table.markdown() }
        out += "\nMeasuring took \(fixed(self.minutes, 1)) min; load average \(self.loadAverageAtEnd) at the end.\n"
        return out
    }

    // MARK: Cells

    private func ratioCell(_ result: AllocatorWorkloadResult, _ field: KeyPath<AllocatorRatios, Double?>) -> String {
        if result.allocator == AllocatorContender.glibc.rawValue { return "1×" }
        return result.ratiosToGlibc?[keyPath: field].map(ratio) ?? "—"
    }

    private static func number(_ value: Double?) -> String {
        value.map(significant) ?? "—"
    }

    private static func range(_ values: [Double], _ format: (Double) -> String) -> String {
        guard let low = values.min(), let high = values.max() else { return "—" }
        return format(low) + "–" + format(high)
    }

    private static func mebibytes(_ bytes: Int) -> String {
        significant(Double(bytes) / 1_048_576) + " MiB"
    }
}
