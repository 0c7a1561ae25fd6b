import ArgumentParser
import ConveyorReport
import Foundation

/// A small, fast, seedable generator (SplitMix64), so simulations are reproducible.
struct SimulationRandom: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    mutating func positiveUnit() -> Double { 1 - Double(self.next() >> 11) * 0x1p-53 }
}

/// Writes `value` as pretty JSON with sorted keys (the bench-report format), creating the
/// directory; a failure names the path.
func writeSimulationJSON(_ value: some Encodable, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    do {
        try BenchDocument.encoder.encode(value).write(to: url, options: .atomic)
    } catch {
        throw ValidationError("cannot write \(path): \(error.localizedDescription)")
    }
}

/// "YYYY-MM-DD HH:MM UTC" now.
func simulationTimestamp() -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
    return formatter.string(from: Date())
}

/// The git revision of the working directory ("unknown revision" outside a checkout).
func simulationRevision() -> String {
    func git(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "--no-optional-locks"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
    let revision = git(["rev-parse", "--short=12", "HEAD"])
    guard revision.status == 0, !revision.output.isEmpty else { return "unknown revision" }
    return revision.output + (git(["diff", "--quiet", "HEAD", "--"]).status == 1 ? " + uncommitted changes" : "")
}

/// CPU, cores, kernel, build and load: where a simulation ran.
func simulationMachine() -> String {
    func firstLine(_ path: String, prefix: String = "") -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
    }
    let cpu = firstLine("/proc/cpuinfo", prefix: "model name")?.split(separator: ":", maxSplits: 1).last
        .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    let kernel = firstLine("/proc/sys/kernel/osrelease") ?? "?"
    let load = firstLine("/proc/loadavg")?.split(separator: " ").first.map(String.init) ?? "?"
    #if DEBUG
    let build = "DEBUG build"
    #else
    let build = "release build"
    #endif
    return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores; Linux \(kernel); \(build); "
        + "git \(simulationRevision()); load average \(load) at start"
}
