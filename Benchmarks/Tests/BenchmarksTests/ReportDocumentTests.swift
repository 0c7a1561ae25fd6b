import ConveyorReport
import Foundation
import Testing

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

    @Test("Engine verdicts become short results")
    func engineVerdicts() {
        #expect(BenchReport.result(of: "met (3.61×)") == "3.61×")
        #expect(BenchReport.result(of: "MISSED: 1.73×, 78 % short of 8×") == "1.73×, 78 % short of 8×")
        #expect(BenchReport.result(of: "met (0 B/task in every run)") == "0 B/task in every run")
    }
}
