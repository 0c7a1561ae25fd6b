// The core table as a part of the `make bench` report (bench-report/core.json).
import BenchSupport
import ConveyorReport

extension Report {
    /// Every workload's runs (ns/op) and paired ratios, the aims, the tables, and one chart
    /// per section: each row's ratio against the section's first peer.
    func document(date: String, revision: String) -> BenchDocument {
        var figures: [BenchFigure] = []
        for row in self.workloads {
            figures.append(BenchFigure(key: "core.\(row.key)", label: row.label, unit: "ns/op", runs: row.samples))
            for peerKey in row.peers {
                guard let peerKey, peerKey != row.key, let peer = self.workload(peerKey) else { continue }
                let count = min(row.samples.count, peer.samples.count)
                figures.append(BenchFigure(
                    key: "core.\(row.key)/\(peerKey)", label: "\(row.label) × \(peer.label)", unit: "×",
                    runs: (0..<count).map { peer.samples[$0] / row.samples[$0] }))
            }
        }
        let aims = self.aimOutcomes.map {
            BenchAim(text: "\($0.workload): \($0.outcome.text)", result: $0.outcome.result, met: $0.outcome.met)
        }
        var tables: [BenchTable] = []
        var charts: [BenchChart] = []
        for index in self.sections.indices {
            let section = self.sections[index]
            let (header, rows) = self.cells(index)
            guard !rows.isEmpty else { continue }
            tables.append(BenchTable(title: section.title, note: section.note, header: header, rows: rows))
            guard let peerColumn = section.peerColumns.first else { continue }
            var categories: [String] = []
            var points: [ChartPoint] = []
            for row in self.workloads where row.section == index {
                guard let peerKey = row.peers.first ?? nil, peerKey != row.key, let peer = self.workload(peerKey) else { continue }
                let count = min(row.samples.count, peer.samples.count)
                let ratios = (0..<count).map { peer.samples[$0] / row.samples[$0] }
                points.append(ChartPoint(x: Double(categories.count), y: ratios.median, low: ratios.min(), high: ratios.max()))
                categories.append(row.label)
            }
            guard !points.isEmpty else { continue }
            let aim = self.workloads.first { $0.section == index && $0.aim?.column == 0 }?.aim?.aim
            charts.append(BenchChart(
                kind: .bars, title: section.title, note: "Median ratio (bar) and min–max over runs (line); > 1 is faster than the peer.",
                valueLabel: "speed \(peerColumn) (peer ns/op ÷ row ns/op)", valueScale: .log, categories: categories,
                series: [ChartSeries(name: "median of runs", points: points)],
                reference: aim.map { ChartReference(value: $0.target, label: "aim \(formatRatio($0.target))") }
                    ?? ChartReference(value: 1, label: "1× (parity)")))
        }
        return BenchDocument(
            id: "core", title: "C core: rings and slab pools against liburcu, Mutex<Deque>, jemalloc and glibc",
            machine: self.machine, date: date, revision: revision, method: self.method,
            figures: figures, aims: aims, tables: tables, charts: charts)
    }
}
