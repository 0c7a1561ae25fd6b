// Finds the allocators' shared objects at run time: first in the dynamic linker's cache
// (`ldconfig -p`, for this machine's architecture), then in the usual library directories.
import BenchSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a shared object such as `libmimalloc.so.2` lives on this machine.
///
/// ```swift
/// let path = try LibraryLocator().path(of: "libmimalloc.so.2", package: "libmimalloc-dev")
/// // /lib/x86_64-linux-gnu/libmimalloc.so.2
/// ```
struct LibraryLocator {
    /// `ldconfig -p` lines for this architecture: soname → path (first entry wins).
    let cache: [String: String]
    /// Directories searched when the cache does not list a library.
    let directories: [String]

    init() {
        let machine = Self.machine()
        let triple = "\(machine)-linux-gnu"
        self.directories = ["/usr/lib/\(triple)", "/lib/\(triple)", "/usr/local/lib", "/usr/lib64", "/usr/lib"]
        self.cache = Self.readCache(architectureTag: Self.ldconfigTag(machine))
    }

    /// The path of `soname`, or an error saying how to install it.
    func path(of soname: String, package: String?) throws -> String {
        if let path = self.cache[soname], FileManager.default.fileExists(atPath: path) { return path }
        for directory in self.directories {
            let candidate = directory + "/" + soname
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        let install = package.map { "install Debian's \($0) (`sudo apt-get install \($0)`; `make bench-allocators` does it)" }
            ?? "install it"
        throw AllocatorBenchError.libraryMissing(
            "\(soname) not found: not in `ldconfig -p` nor in \(self.directories.joined(separator: ", ")). "
                + "\(install.prefix(1).uppercased() + install.dropFirst()), or leave that allocator out with --allocators.")
    }

    /// The file a path finally points to (the versioned name, e.g. libmimalloc.so.2.0).
    static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// `uname -m`: x86_64, aarch64, …
    static func machine() -> String {
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: &names.machine) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// How `ldconfig -p` tags this architecture's libraries ("(libc6,x86-64)"); nil accepts any.
    static func ldconfigTag(_ machine: String) -> String? {
        switch machine {
        case "x86_64": "x86-64"
        case "aarch64": "AArch64"
        default: nil
        }
    }

    private static func readCache(architectureTag: String?) -> [String: String] {
        guard let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig"].first(where: FileManager.default.isExecutableFile)
        else { return [:] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ldconfig)
        process.arguments = ["-p"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return [:] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var cache: [String: String] = [:]
        // "\tlibmimalloc.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libmimalloc.so.2"
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let arrow = line.range(of: " => ") else { continue }
            let left = line[..<arrow.lowerBound].trimmingCharacters(in: .whitespaces)
            let path = String(line[arrow.upperBound...]).trimmingCharacters(in: .whitespaces)
            guard let space = left.firstIndex(of: " ") else { continue }
            let soname = String(left[..<space])
            let tags = left[space...]
            if let tag = architectureTag, !tags.contains(tag) { continue }
            if cache[soname] == nil { cache[soname] = path }
        }
        return cache
    }
}
