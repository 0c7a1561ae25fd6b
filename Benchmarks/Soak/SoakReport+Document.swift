import BenchSupport
import Conveyor
import ConveyorReport

extension SoakReport {
    /// The soak as a part of the `make bench` report: memory over time (chart), growth after
    /// warm-up (figures and the < `maxGrowth` % aim) and the task counts.
    func document(machine: String, date: String, revision: String, maxGrowth: Double) -> BenchDocument {
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
        }
        let mebibyte = 1_048_576.0
        var series = [
            ChartSeries(name: "heap allocated", points: self.samples.map {
                ChartPoint(x: seconds($0.elapsed), y: Double($0.heapAllocated) / mebibyte)
            }),
            ChartSeries(name: "RSS", points: self.samples.map {
                ChartPoint(x: seconds($0.elapsed), y: Double($0.residentSetSize) / mebibyte)
            }),
        ]
        if self.samples.contains(where: { $0.heapInThreadCaches != nil }) {
            series.insert(ChartSeries(name: "allocated − thread caches", points: self.samples.map {
                ChartPoint(x: seconds($0.elapsed), y: Double($0.heapAllocated - ($0.heapInThreadCaches ?? 0)) / mebibyte)
            }), at: 1)
            series.insert(ChartSeries(name: "held (− free slabs)", points: self.samples.map {
                ChartPoint(x: seconds($0.elapsed), y: Double($0.heldHeap) / mebibyte)
            }), at: 2)
        }
        if self.samples.contains(where: { $0.heapResident != nil }) {
            series.append(ChartSeries(name: "heap resident", points: self.samples.compactMap { sample in
                sample.heapResident.map { ChartPoint(x: seconds(sample.elapsed), y: Double($0) / mebibyte) }
            }))
        }
        let chart = BenchChart(
            kind: .lines, title: "Memory during the soak (\(Int(seconds(self.duration))) s, a compressed day)",
            note: "Warm-up ends at \(Int(seconds(self.warmUpEnd))) s. Growth compares the quiet checkpoints after warm-up; "
                + "peaks in between are the load's bursts, freed by the next checkpoint.",
            valueLabel: "MiB", xLabel: "seconds", series: series)

        var figures = [
            BenchFigure(key: "soak.tasks", label: "tasks run", unit: "tasks", runs: [Double(self.tasksCompleted + self.tasksAwaited)]),
            BenchFigure(key: "soak.failed", label: "tasks failed on purpose", unit: "tasks", runs: [Double(self.tasksFailed)]),
            BenchFigure(key: "soak.rejected", label: "submits rejected (full)", unit: "submits", runs: [Double(self.submitsRejected)]),
        ]
        var rows: [[String]] = []
        let growths: [(String, String, Growth?)] = [
            ("allocated", "heap allocated", self.allocatedGrowth),
            ("live", "heap allocated − thread caches (judged)", self.liveHeapGrowth),
            ("free-slabs", "free slab capacity", self.freeSlabGrowth),
            ("held", "heap held: − thread caches − free slabs", self.heldHeapGrowth),
            ("resident", "heap resident", self.residentGrowth),
            ("rss", "RSS", self.residentSetSizeGrowth),
        ]
        for (key, label, growth) in growths {
            guard let growth else { continue }
            figures.append(BenchFigure(key: "soak.growth.\(key)", label: "\(label): growth after warm-up", unit: "%", runs: [growth.percent]))
            rows.append([label, ChartFormat.mebibytes(growth.baseline), ChartFormat.mebibytes(growth.final),
                         String(format: "%+.2f %%", growth.percent)])
        }
        var aims: [BenchAim] = []
        if let live = self.liveHeapGrowth {
            aims.append(BenchAim(
                text: "heap allocated (net of thread caches) grows < \(ChartFormat.significant(maxGrowth)) % after warm-up",
                result: String(format: "%+.2f %%", live.percent), met: live.percent < maxGrowth))
        }
        return BenchDocument(
            id: "soak", title: "Soak: memory over a compressed day of mixed load", machine: machine, date: date,
            revision: revision, method: self.summary, figures: figures, aims: aims,
            tables: [BenchTable(title: "Growth after warm-up", note: "Lowest of the first third of checkpoints → lowest of the last third.",
                                header: ["figure", "baseline", "final", "growth"], rows: rows)],
            charts: [chart])
    }
}
