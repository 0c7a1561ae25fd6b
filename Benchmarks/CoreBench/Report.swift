// The comparison table: text for the terminal, Markdown for the README.
import BenchSupport

#if canImport(Glibc)
import Glibc
#endif

/// One table of the report.
struct Section {
    let title: String
    let note: String
    /// Headers of the ratio columns, e.g. "× wfcqueue".
    let peerColumns: [String]
}

struct Workload {
    let section: Int
    let key: String
    let label: String
    /// Items of the calibration run.
    let calibrationItems: Int
    /// Per ratio column of the section: the key of the peer row (nil: no ratio).
    let peers: [String?]
    /// An aim from the issue: this row's ratio against the peer of `column` must reach it.
    let aim: (column: Int, aim: Aim)?
    /// Runs the workload over `items` items and returns ns per item.
    let run: (Int) -> Double
    var items = 0
    var samples: [Double] = []
}

func formatNanoseconds(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : value >= 10 ? fixed(value, 1) : fixed(value, 2)
}

func formatRatio(_ value: Double) -> String { fixed(value, 2) + "×" }

func formatCount(_ value: Int) -> String {
    if value >= 1_000_000 { return fixed(Double(value) / 1_000_000, 1) + "M" }
    if value >= 1_000 { return String(value / 1_000) + "k" }
    return String(value)
}


/// Median over runs of (peer ns/op ÷ row ns/op): runs are interleaved, so run i of the row
/// and run i of its peer were measured moments apart.
func pairedRatio(_ row: Workload, _ peer: Workload) -> Double {
    let count = min(row.samples.count, peer.samples.count)
    return (0..<count).map { peer.samples[$0] / row.samples[$0] }.median
}

struct Report {
    let machine: String
    let method: String
    let sections: [Section]
    let workloads: [Workload]

    func workload(_ key: String) -> Workload? { self.workloads.first { $0.key == key } }

    /// Every row's aim judged on its paired ratio against the aim's peer column.
    var aimOutcomes: [(workload: String, outcome: AimOutcome)] {
        self.workloads.compactMap { row in
            guard let aim = row.aim, let peerKey = row.peers[aim.column], let peer = self.workload(peerKey) else {
                return nil
            }
            return (row.label, aim.aim.judge(pairedRatio(row, peer), show: formatRatio))
        }
    }

    /// Rows of one section as cells: workload, items, ns/op, range, Mops/s, ratios…, aim.
    func cells(_ sectionIndex: Int) -> (header: [String], rows: [[String]]) {
        let section = self.sections[sectionIndex]
        let header = ["Workload", "items/run", "ns/op (median)", "min–max", "Mops/s"] + section.peerColumns + ["Aim"]
        var rows: [[String]] = []
        for row in self.workloads where row.section == sectionIndex {
            let median = row.samples.median
            var cells = [
                row.label, formatCount(row.items), formatNanoseconds(median),
                formatNanoseconds(row.samples.min()!) + "–" + formatNanoseconds(row.samples.max()!),
                fixed(1000 / median, 1),
            ]
            for peerKey in row.peers {
                if let peerKey, peerKey != row.key, let peer = self.workload(peerKey) {
                    cells.append(formatRatio(pairedRatio(row, peer)))
                } else {
                    cells.append("—")
                }
            }
            if let aim = row.aim, let outcome = self.aimOutcomes.first(where: { $0.workload == row.label && $0.outcome.text == aim.aim.text }) {
                cells.append(aim.aim.text + ": " + outcome.outcome.verdict)
            } else {
                cells.append("")
            }
            rows.append(cells)
        }
        return (header, rows)
    }

    var text: String {
        var out = "Conveyor core benchmarks\n" + self.machine + "\n" + self.method + "\n"
        for index in self.sections.indices {
            let section = self.sections[index]
            let (header, rows) = self.cells(index)
            if rows.isEmpty { continue }
            out += "\n== " + section.title + " ==\n"
            if !section.note.isEmpty { out += section.note + "\n" }
            out += self.table(index, header: header, rows: rows).alignedLines
        }
        out += "\nAims:\n"
        for (workload, outcome) in self.aimOutcomes {
            out += "  " + workload + " — " + outcome.text + ": " + outcome.verdict + "\n"
        }
        return out
    }

    var markdown: String {
        var out = "**Machine:** " + self.machine + "\n\n" + self.method + "\n"
        for index in self.sections.indices {
            let (header, rows) = self.cells(index)
            if rows.isEmpty { continue }
            out += "\n" + self.table(index, header: header, rows: rows).markdown(escaping: true)
        }
        out += "\n**Aims:**\n\n"
        for (workload, outcome) in self.aimOutcomes {
            out += "- " + escapeMarkdown(workload) + " — " + escapeMarkdown(outcome.text) + ": **"
                + (outcome.met ? "met" : "missed") + "** — " + escapeMarkdown(outcome.verdict) + "\n"
        }
        return out
    }

    /// A section's table: workload and aim columns left-aligned, numbers right-aligned.
    func table(_ sectionIndex: Int, header: [String], rows: [[String]]) -> TextTable {
        let section = self.sections[sectionIndex]
        return TextTable(title: section.title, note: section.note, header: header, rows: rows, leftAligned: [0, header.count - 1])
    }
}
