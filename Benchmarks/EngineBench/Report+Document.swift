import BenchSupport
import ConveyorReport

extension BenchReport {
    /// Short chart labels of the throughput rows.
    static let chartLabels: [(ThroughputRow, String)] = [
        (.typed, "Conveyor typed"),
        (.closure, "Conveyor closure"),
        (.everythingOn, "Conveyor typed, everything on"),
        (.everythingSampled, "Conveyor typed, everything on, timing 1 in 64"),
        (.typedTwoWorkers, "Conveyor typed, 2 workers"),
        (.bulk, "Conveyor typed, bulk submit"),
        (.dispatchConcurrent, "Dispatch concurrent"),
        (.dispatchSerial, "Dispatch serial"),
        (.taskGroup, "TaskGroup"),
        (.asyncStream, "AsyncStream"),
    ]

    /// The engine as a part of the `make bench` report (bench-report/engine.json): every run's
    /// figures, the aims, the Markdown table, a throughput chart and latency percentile curves.
    func document(date: String, revision: String) -> BenchDocument {
        var figures: [BenchFigure] = []
        var throughputCategories: [String] = []
        var throughputPoints: [ChartPoint] = []
        for (row, label) in Self.chartLabels {
            let rates = self.rates(row)
            guard !rates.isEmpty else { continue }
            figures.append(BenchFigure(key: "engine.throughput.\(row.rawValue)", label: "\(label): tasks/s", unit: "tasks/s", runs: rates))
            let mine = self.results.throughput[row.rawValue] ?? []
            let peer = self.results.throughput[ThroughputRow.dispatchConcurrent.rawValue] ?? []
            if row != .dispatchConcurrent, !peer.isEmpty {
                figures.append(BenchFigure(
                    key: "engine.throughput.\(row.rawValue)/dispatch.concurrent", label: "\(label) × Dispatch concurrent",
                    unit: "×", runs: zip(mine, peer).map { Double($1) / Double($0) }))
            }
            throughputPoints.append(ChartPoint(
                x: Double(throughputCategories.count), y: rates.median / 1e6, low: rates.min()! / 1e6, high: rates.max()! / 1e6))
            throughputCategories.append(label)
        }
        var charts: [BenchChart] = []
        if !throughputPoints.isEmpty {
            charts.append(BenchChart(
                kind: .bars, title: "Throughput: \(self.sizes.throughputTasks) trivial tasks, submit → last handler done",
                note: "Median (bar) and min–max (line) over \(self.runs) runs, all in one process.",
                valueLabel: "million tasks/s", categories: throughputCategories,
                series: [ChartSeries(name: "median", points: throughputPoints)]))
        }
        let percentiles: [(String, KeyPath<Percentiles, Double>)] = [("p50", \.p50), ("p99", \.p99), ("p99.9", \.p999), ("max", \.max)]
        for rate in self.sizes.latencyRates {
            var series: [ChartSeries] = []
            for (contender, name) in [("conveyor", "Conveyor"), ("dispatch", "Dispatch concurrent")] {
                let runs = self.latency(contender, rate)
                guard !runs.isEmpty else { continue }
                var points: [ChartPoint] = []
                for (index, (percentile, path)) in percentiles.enumerated() {
                    let values = runs.map { $0.latency[keyPath: path] / 1000 }
                    figures.append(BenchFigure(
                        key: "engine.latency.\(contender)@\(Int(rate)).\(percentile)",
                        label: "\(name) at \(rateText(rate)): submit → start \(percentile)", unit: "µs", runs: values))
                    points.append(ChartPoint(x: Double(index), y: values.median, low: values.min(), high: values.max()))
                }
                figures.append(BenchFigure(
                    key: "engine.latency.\(contender)@\(Int(rate)).achieved", label: "\(name) at \(rateText(rate)): achieved rate",
                    unit: "tasks/s", runs: runs.map(\.achievedRate)))
                series.append(ChartSeries(name: name, points: points))
            }
            guard !series.isEmpty else { continue }
            charts.append(BenchChart(
                kind: .lines, title: "Submit → handler start at \(rateText(rate)) (open-loop Poisson)",
                note: "Median over runs of each percentile; nearest rank over every measured task.",
                valueLabel: "µs", valueScale: .log, xLabel: "percentile", categories: percentiles.map(\.0), series: series,
                reference: rate == 100_000 ? ChartReference(value: 10, label: "aim: p99 ≤ 10 µs") : nil))
        }
        for (contender, runs) in self.results.cpu.sorted(by: { $0.key < $1.key }) {
            figures.append(BenchFigure(
                key: "engine.cpu.\(contender)", label: "\(contender) at \(rateText(self.sizes.cpuRate)): process CPU",
                unit: "% of a core", runs: runs.map(\.cpuPercent)))
        }
        if !self.results.idleCPUPercent.isEmpty {
            figures.append(BenchFigure(key: "engine.idle", label: "idle engines: CPU", unit: "% of a core", runs: self.results.idleCPUPercent))
        }
        for (key, bytes) in self.results.allocationBytesPerTask.sorted(by: { $0.key < $1.key }) {
            figures.append(BenchFigure(key: "engine.allocations.\(key)", label: "\(key): bytes allocated per task", unit: "B/task", runs: bytes))
        }
        if !self.results.fairness.isEmpty {
            figures.append(BenchFigure(
                key: "engine.fairness", label: "queue-wait p99 loaded ÷ idle", unit: "×", runs: self.results.fairness.map(\.ratio)))
        }
        if let overhead = self.results.profilerOverhead {
            for (key, runs) in overhead.runNanoseconds.sorted(by: { $0.key < $1.key }) {
                figures.append(BenchFigure(
                    key: "engine.profiler.\(key)", label: "profiler overhead, \(key): tasks/s", unit: "tasks/s",
                    runs: runs.map { Double(overhead.tasks) / (Double($0) / 1e9) }))
            }
            for (key, ratios) in overhead.throughputRatios.sorted(by: { $0.key < $1.key }) {
                figures.append(BenchFigure(
                    key: "engine.profiler.\(key)/work.off", label: "profiler overhead, \(key) ÷ off", unit: "×", runs: ratios))
            }
        }
        let markdown = self.markdown
        let tables = BenchTable(markdown: markdown, title: "Engine table").map { [$0] } ?? []
        return BenchDocument(
            id: "engine", title: "Engine: Conveyor against Dispatch, TaskGroup and AsyncStream",
            machine: self.machine, date: date, revision: revision,
            method: self.method.replacing("**", with: "").replacing("`", with: ""),
            figures: figures, aims: self.aims.map(\.benchAim),
            tables: tables, charts: charts)
    }
}
