// The comparison table: text for the terminal, Markdown for the README.
import CBenchSupport

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

/// An aim from the issue: this row's ratio against one peer column must reach `target`.
struct Aim {
    let column: Int
    let target: Double
    let text: String
}

struct Workload {
    let section: Int
    let key: String
    let label: String
    /// Items of the calibration run.
    let calibrationItems: Int
    /// Per ratio column of the section: the key of the peer row (nil: no ratio).
    let peers: [String?]
    let aim: Aim?
    /// Runs the workload over `items` items and returns ns per item.
    let run: (Int) -> Double
    var items = 0
    var samples: [Double] = []
}

struct AimOutcome {
    let workload: String
    let aim: String
    let ratio: Double
    let met: Bool

    var verdict: String {
        if self.met { return "met (\(formatRatio(self.ratio)))" }
        let short = (1 - self.ratio / self.aimTarget) * 100
        return "MISSED by \(formatRatio(self.aimTarget - self.ratio)): \(formatRatio(self.ratio)), \(formatPercent(short)) short"
    }
    let aimTarget: Double
}

func formatNanoseconds(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : value >= 10 ? fixed(value, 1) : fixed(value, 2)
}

func formatRatio(_ value: Double) -> String { fixed(value, 2) + "×" }

func formatPercent(_ value: Double) -> String { String(Int(value.rounded())) + "%" }

func formatCount(_ value: Int) -> String {
    if value >= 1_000_000 { return fixed(Double(value) / 1_000_000, 1) + "M" }
    if value >= 1_000 { return String(value / 1_000) + "k" }
    return String(value)
}

func fixed(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    if decimals == 0 { return String(whole) }
    var fraction = String(Int(abs(scaled)) % Int(scale))
    while fraction.count < decimals { fraction = "0" + fraction }
    let sign = scaled < 0 && whole == 0 ? "-" : ""
    return sign + String(whole) + "." + fraction
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

    var aimOutcomes: [AimOutcome] {
        self.workloads.compactMap { row in
            guard let aim = row.aim, let peerKey = row.peers[aim.column], let peer = self.workload(peerKey) else {
                return nil
            }
            let ratio = pairedRatio(row, peer)
            return AimOutcome(workload: row.label, aim: aim.text, ratio: ratio, met: ratio >= aim.target, aimTarget: aim.target)
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
            if let aim = row.aim, let outcome = self.aimOutcomes.first(where: { $0.workload == row.label && $0.aim == aim.text }) {
                cells.append(aim.text + ": " + outcome.verdict)
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
            out += alignedTable(header: header, rows: rows)
        }
        out += "\nAims:\n"
        for outcome in self.aimOutcomes {
            out += "  " + outcome.workload + " — " + outcome.aim + ": " + outcome.verdict + "\n"
        }
        return out
    }

    var markdown: String {
        var out = "**Machine:** " + self.machine + "\n\n" + self.method + "\n"
        for index in self.sections.indices {
            let section = self.sections[index]
            let (header, rows) = self.cells(index)
            if rows.isEmpty { continue }
            out += "\n#### " + section.title + "\n\n"
            if !section.note.isEmpty { out += escapeMarkdown(section.note) + "\n\n" }
            out += "| " + header.map(escapeMarkdown).joined(separator: " | ") + " |\n"
            out += "|" + header.indices.map { $0 == 0 || $0 == header.count - 1 ? " --- |" : " ---: |" }.joined() + "\n"
            for row in rows {
                out += "| " + row.map(escapeMarkdown).joined(separator: " | ") + " |\n"
            }
        }
        out += "\n**Aims:**\n\n"
        for outcome in self.aimOutcomes {
            out += "- " + escapeMarkdown(outcome.workload) + " — " + escapeMarkdown(outcome.aim) + ": **"
                + (outcome.met ? "met" : "missed") + "** — " + escapeMarkdown(outcome.verdict) + "\n"
        }
        return out
    }
}

func escapeMarkdown(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "|": out += "\\|"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        default: out.append(character)
        }
    }
    return out
}

func alignedTable(header: [String], rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        var parts: [String] = []
        for (index, cell) in cells.enumerated() {
            let padding = String(repeating: " ", count: widths[index] - cell.count)
            // Workload and aim left-aligned, numbers right-aligned.
            parts.append(index == 0 || index == cells.count - 1 ? cell + padding : padding + cell)
        }
        var text = parts.joined(separator: "  ")
        while text.hasSuffix(" ") { text.removeLast() }
        return text + "\n"
    }
    var out = line(header)
    out += line(widths.map { String(repeating: "-", count: $0) })
    for row in rows { out += line(row) }
    return out
}

// MARK: Machine description

func cString(_ capacity: Int, _ fill: (UnsafeMutablePointer<CChar>, Int) -> Void) -> String {
    var buffer = [CChar](repeating: 0, count: capacity)
    buffer.withUnsafeMutableBufferPointer { fill($0.baseAddress!, $0.count) }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Git revision of the tree this binary was built from (read-only git commands).
func gitRevision() -> String {
    var directory = #filePath
    while let slash = directory.lastIndex(of: "/"), directory.distance(from: directory.startIndex, to: slash) > 0 {
        directory = String(directory[..<slash])
        if directory.hasSuffix("/Benchmarks") { break }
    }
    let quoted = "'" + directory.replacing("'", with: "'\\''") + "'"
    var status: Int32 = 0
    let revision = cString(128) { status = cb_run_command("git -C \(quoted) rev-parse --short=12 HEAD 2>/dev/null", $0, $1) }
    guard status == 0, !revision.isEmpty else { return "unknown revision" }
    // Exit status 1: tracked files differ from HEAD. --no-optional-locks: never write the index.
    let dirty = cString(16) {
        status = cb_run_command("git -C \(quoted) --no-optional-locks diff --quiet HEAD -- 2>/dev/null; echo $?", $0, $1)
    }
    return dirty == "1" ? revision + " + uncommitted changes" : revision
}

func utcTimestamp() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    return cString(64) { buffer, length in
        _ = strftime(buffer, length, "%Y-%m-%d %H:%M UTC", &parts)
    }
}

func machineDescription(revision: String?) -> String {
    let cpu = cString(256) { cb_cpu_model($0, $1) }
    let kernel = cString(128) { cb_kernel_release($0, $1) }
    let allowed = Int(cb_allowed_cpu_count())
    let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    let glibc = String(cString: cb_glibc_version())
    // "5.3.0-0-g54eaed1d…": keep the release number.
    let jemalloc = cb_jemalloc_version().map { String(String(cString: $0).prefix { $0 != "-" }) } ?? "not loaded"
    let mallocProvider = cString(256) { cb_malloc_provider($0, $1) }
    let preload = getenv("LD_PRELOAD").map { String(cString: $0) } ?? ""
    let interposer =
        preload.isEmpty && !mallocProvider.lowercased().contains("interpos")
        ? "no malloc interposer" : "WARNING: malloc interposed (LD_PRELOAD=\(preload))"
    #if DEBUG
    let build = "DEBUG build (numbers meaningless)"
    #else
    let build = "release build"
    #endif
    let revisionText = revision ?? gitRevision()
    return "\(cpu.isEmpty ? "unknown CPU" : cpu), \(online) cores online (\(allowed) usable); Linux \(kernel); "
        + "glibc \(glibc); jemalloc \(jemalloc); malloc → \(mallocProvider), \(interposer); \(build); "
        + "git \(revisionText); \(utcTimestamp()); load average \(fixed(cb_load_average(), 2)) at start"
}
