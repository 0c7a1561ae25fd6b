import Foundation

/// Text helpers for the profiler's reports: units and aligned tables.
enum ReportText {
    /// `1.23 µs`, `45.6 ms`, `812 ns`.
    static func duration(nanoseconds: Double) -> String {
        switch nanoseconds {
        case ..<1_000: String(format: "%.0f ns", nanoseconds)
        case ..<1_000_000: String(format: "%.2f µs", nanoseconds / 1e3)
        case ..<1_000_000_000: String(format: "%.2f ms", nanoseconds / 1e6)
        default: String(format: "%.2f s", nanoseconds / 1e9)
        }
    }

    static func duration(nanoseconds: UInt64) -> String {
        Self.duration(nanoseconds: Double(nanoseconds))
    }

    /// `512 B`, `1.5 KiB`, `12.0 MiB`.
    static func bytes(_ count: Int) -> String {
        let value = Double(count)
        switch abs(value) {
        case ..<1_024: return "\(count) B"
        case ..<(1_024 * 1_024): return String(format: "%.1f KiB", value / 1_024)
        case ..<(1_024 * 1_024 * 1_024): return String(format: "%.1f MiB", value / 1_048_576)
        default: return String(format: "%.2f GiB", value / 1_073_741_824)
        }
    }

    /// A rate with one decimal.
    static func rate(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// A signed percentage from a relative change (`0.12` → `+12.0 %`).
    static func change(_ relative: Double?) -> String {
        guard let relative else { return "—" }
        return String(format: "%+.1f %%", relative * 100)
    }

    /// Rows under a header, columns padded to their widest cell; the first column is
    /// left-aligned, the others right-aligned.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (column, cell) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], cell.count)
            }
        }
        func line(_ row: [String]) -> String {
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: max(0, widths[column] - cell.count))
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).map { "  " + $0 }.joined(separator: "\n")
    }
}
