// Number formats of every table the runners print.
import Foundation

package func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "—" }
    return String(format: "%.\(decimals)f", value)
}

/// Three significant figures, at most.
package func significant(_ value: Double) -> String {
    guard value.isFinite else { return "—" }
    let magnitude = abs(value)
    if magnitude >= 100 { return fixed(value, 0) }
    if magnitude >= 10 { return fixed(value, 1) }
    if magnitude >= 1 { return fixed(value, 2) }
    return fixed(value, 3)
}

/// Nanoseconds as microseconds, three significant figures.
package func microseconds(_ nanoseconds: Double) -> String { significant(nanoseconds / 1000) }

package func ratio(_ value: Double) -> String { significant(value) + "×" }

package func rateText(_ perSecond: Double) -> String {
    if perSecond >= 999_500 { return significant(perSecond / 1e6) + " M/s" }
    if perSecond >= 1000 { return significant(perSecond / 1e3) + " k/s" }
    return significant(perSecond) + " /s"
}
