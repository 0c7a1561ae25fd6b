// Where a figure was measured: machine, build, git revision, date, load.
import CBenchSupport
import ConveyorReport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The first line of a text file that starts with `prefix` (nil if the file is unreadable).
package func firstLine(of path: String, matching prefix: String = "") -> String? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
}

/// The git revision of the tree these benchmarks were built from, with " + uncommitted
/// changes" when tracked files differ from HEAD. Asks git in the directory of this source file,
/// so the answer does not depend on where the binary is started; read-only git commands
/// (`--no-optional-locks`: never writes the index).
package func gitRevision() -> String {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
    func git(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory, "--no-optional-locks"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (process.terminationStatus, text)
    }
    let revision = git(["rev-parse", "--short=12", "HEAD"])
    guard revision.status == 0, !revision.output.isEmpty else { return "unknown revision" }
    let dirty = git(["diff", "--quiet", "HEAD", "--"]).status == 1
    return revision.output + (dirty ? " + uncommitted changes" : "")
}

/// "YYYY-MM-DD HH:MM UTC", the date format of every report document.
package func utcTimestamp() -> String { BenchDocument.timestamp() }

/// One line saying where the figures come from: CPU, cores (online and usable by this
/// process), kernel, build, git revision, date and the load average at the start. With
/// `allocators`, also glibc's and jemalloc's versions, the library serving `malloc` and
/// whether a malloc interposer is in the process (the core table measures allocators).
package func machineDescription(revision: String? = nil, allocators: Bool = false) -> String {
    let cpu = firstLine(of: "/proc/cpuinfo", matching: "model name")
        .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? $0 }
        ?? "unknown CPU"
    let kernel = firstLine(of: "/proc/sys/kernel/osrelease") ?? "?"
    let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    let usable = Int(cb_allowed_cpu_count())
    let load = firstLine(of: "/proc/loadavg")?.split(separator: " ").first.map(String.init) ?? "?"
    #if DEBUG
    let build = "DEBUG build (numbers meaningless)"
    #else
    let build = "release build"
    #endif
    var text = "\(cpu), \(online) cores online\(usable == online ? "" : " (\(usable) usable)"); Linux \(kernel); "
    if allocators {
        let glibc = String(cString: cb_glibc_version())
        // "5.3.0-0-g54eaed1d…": keep the release number.
        let jemalloc = cb_jemalloc_version().map { String(String(cString: $0).prefix { $0 != "-" }) } ?? "not loaded"
        var provider = [CChar](repeating: 0, count: 256)
        cb_malloc_provider(&provider, provider.count)
        let mallocProvider = String(decoding: provider.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let preload = ProcessInfo.processInfo.environment["LD_PRELOAD"] ?? ""
        let interposer = preload.isEmpty && !mallocProvider.lowercased().contains("interpos")
            ? "no malloc interposer" : "WARNING: malloc interposed (LD_PRELOAD=\(preload))"
        text += "glibc \(glibc); jemalloc \(jemalloc); malloc → \(mallocProvider), \(interposer); "
    }
    return text + "Swift 6 \(build); git \(revision ?? gitRevision()); \(utcTimestamp()); load average \(load) at start"
}
