import Foundation

/// Short number labels for axes and bars, and XML escaping for SVG and HTML text.
public enum ChartFormat {
    /// "950", "1.5k", "6.5M", "0.25", "2×10⁻⁴"-free: three significant digits at most.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "∞" : "−∞") }
        let magnitude = abs(value)
        let suffixes: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, suffix) in suffixes where magnitude >= scale {
            return self.significant(value / scale) + suffix
        }
        return self.significant(value)
    }

    public static func significant(_ value: Double) -> String {
        let magnitude = abs(value)
        let decimals = magnitude == 0 || magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : magnitude >= 0.1 ? 2 : 3
        var text = String(format: "%.\(decimals)f", value)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    /// Escapes the five XML special characters.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A coordinate with one decimal.
    static func pixel(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

    static func color(_ index: Int) -> String { self.palette[index % self.palette.count] }
}

extension ChartFormat {
    /// "12.34 MiB".
    public static func mebibytes(_ bytes: Int) -> String {
        String(format: "%.2f MiB", Double(bytes) / 1_048_576)
    }
}
