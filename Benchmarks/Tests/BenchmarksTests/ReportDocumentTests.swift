import ConveyorReport
import Foundation
import Testing

import BenchSupport

@testable import AllocatorBench
@testable import EngineBench

@Suite("Bench report documents of the CLI parts")
struct ReportDocumentTests {
    @Test("The allocator document carries every run, the glibc ratios and a speed chart against glibc")
    func allocatorDocument() throws {
        let report = AllocatorBenchReport(
            machine: "test machine", date: "2026-01-01 00:00 UTC", gitRevision: "abc", runs: 2, quick: true, seed: 42,
            minutes: 0.1, contenders: [.glibc, .slab], workloads: [.churn],
            preloads: [:],
            samples: [
                .glibc: [.churn: [churnSample(nanoseconds: 40, peak: 100 << 20), churnSample(nanoseconds: 60, peak: 100 << 20)]],
                .slab: [.churn: [churnSample(nanoseconds: 20, peak: 50 << 20), churnSample(nanoseconds: 20, peak: 50 << 20)]],
            ])
        let document = report.document
        #expect(document.id == "allocators")
        let slab = try #require(document.figures.first { $0.key == "allocators.churn.slab.nsPerOp" })
        #expect(slab.runs == [20, 20])
        #expect(document.figures.first { $0.key == "allocators.churn.slab.speed/glibc" }?.median == 2.5)
        #expect(!document.figures.contains { $0.key.hasPrefix("allocators.churn.glibc.") && $0.key.hasSuffix("/glibc") })
        let chart = try #require(document.charts.first)
        #expect(chart.categories == ["glibc", "slab"])
        #expect(chart.series.first?.points.map(\.y) == [1, 2.5])
        #expect(chart.reference?.value == 1)
        #expect(document.tables.first?.rows.count == 2)  // the setup table: one row per allocator
        #expect(!document.charts.contains { $0.title.contains("burst") })  // burst not run: no chart
    }

    @Test("Aims judge both bounds; verdicts and short results say by how much they missed")
    func aimVerdicts() {
        let met = Aim("closure tasks ≥ 2× Dispatch concurrent", atLeast: 2).judge(3.61, show: ratio)
        #expect(met.met && met.verdict == "met (3.61×)" && met.benchAim.result == "3.61×")
        let short = Aim("typed ≥ 8×", atLeast: 8).judge(1.73, show: ratio)
        #expect(!short.met && short.verdict == "MISSED: 1.73×, 78 % short of 8.00×")
        #expect(short.benchAim == BenchAim(text: "typed ≥ 8×", result: "1.73×, 78 % short of 8.00×", met: false))
        let over = Aim("p99 ≤ 10 µs", atMost: 10).judge(40.1, show: { fixed($0, 1) + " µs" })
        #expect(!over.met && over.result == "40.1 µs, 4.01× the limit of 10.0 µs")
        #expect(Aim("idle < 1 %", atMost: 1).judge(1, show: { fixed($0, 2) }).met)  // the bound itself meets it
    }
}
