#if canImport(Glibc)
import BenchSupport
import Glibc
#endif

/// Reads files under /proc whole. They report a size of 0 and hand out about a page per
/// read, so `String(contentsOfFile:)` stops after the first page.
///
/// ```swift
/// let lazy = ProcFile.kilobytes("LazyFree", in: "/proc/self/smaps_rollup")  // 0 when nothing is MADV_FREE'd
/// ```
enum ProcFile {
    static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// The value of a "Name:   123 kB" line, in bytes; nil when the file or line is missing.
    static func kilobytes(_ field: String, in path: String) -> Int? {
        guard let text = Self.read(path) else { return nil }
        let prefix = field + ":"
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            let value = line.dropFirst(prefix.count).split(separator: " ").first.flatMap { Int($0) }
            return value.map { $0 * 1024 }
        }
        return nil
    }
}
