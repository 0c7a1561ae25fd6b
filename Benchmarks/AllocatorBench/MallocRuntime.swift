// The allocator behind `malloc` in this process, found at run time, and its own calls: its
// version and its way of returning free memory to the OS. None of them is linked (the binary
// must run unchanged under every preload), so they are looked up with dlsym.
import BenchSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which allocator serves `malloc` here, and its calls for version and release.
///
/// ```swift
/// let runtime = MallocRuntime.current()
/// print(runtime.identity, runtime.provider, runtime.version)  // mimalloc /usr/lib/…/libmimalloc.so.2.0 2.0.9
/// runtime.releaseFreeMemory()                                 // mi_collect(true)
/// ```
struct MallocRuntime: Sendable {
    /// An allocator recognised by the object that defines `malloc` *and* its own API.
    enum Identity: String, Codable, Sendable {
        case glibc, jemalloc, mimalloc, tcmalloc
        /// Anything else: a sanitizer runtime, another allocator, or a mix (say, jemalloc
        /// linked and another one preloaded).
        case other

        /// A symbol only this allocator exports (nil for glibc, recognised by their absence).
        var marker: String? {
            switch self {
            case .glibc, .other: nil
            case .jemalloc: "mallctl"
            case .mimalloc: "mi_version"
            case .tcmalloc: "tc_version"
            }
        }

        /// What ``MallocRuntime/releaseFreeMemory()`` calls.
        var releaseCall: String {
            switch self {
            case .glibc: "glibc `malloc_trim(0)`"
            case .jemalloc:
                "jemalloc `mallctl(\"thread.tcache.flush\")` then `mallctl(\"arena.<MALLCTL_ARENAS_ALL>.purge\")`"
            case .mimalloc: "mimalloc `mi_collect(true)`"
            case .tcmalloc: "tcmalloc `MallocExtension_ReleaseFreeMemory()`"
            case .other: "nothing (unknown allocator)"
            }
        }
    }

    let identity: Identity
    /// The file that defines the `malloc` this process calls (from /proc/self/maps).
    let provider: String

    /// Finds the allocator now serving `malloc`.
    static func current() -> MallocRuntime {
        let provider = Self.definingFile(of: "malloc") ?? "unknown"
        let name = provider.split(separator: "/").last.map(String.init) ?? provider
        let allocators: [(Identity, String)] = [(.jemalloc, "libjemalloc"), (.mimalloc, "libmimalloc"), (.tcmalloc, "libtcmalloc")]
        let markers = [Identity.jemalloc, .mimalloc, .tcmalloc].filter { Self.symbol($0.marker!) != nil }
        var identity = Identity.other
        if name.hasPrefix("libc.so"), markers.isEmpty {
            identity = .glibc
        } else if let (candidate, _) = allocators.first(where: { name.hasPrefix($0.1) }),
            markers == [candidate], Self.definingFile(of: candidate.marker!) == provider
        {
            // Its own API is present and comes from the same file as malloc: no mix.
            identity = candidate
        }
        return MallocRuntime(identity: identity, provider: provider)
    }

    /// The allocator's version as it reports it (glibc: the C library's version).
    var version: String {
        switch self.identity {
        case .glibc:
            typealias Version = @convention(c) () -> UnsafePointer<CChar>?
            return Self.function("gnu_get_libc_version", as: Version.self).flatMap { $0() }.map { String(cString: $0) }
                ?? "unknown"
        case .jemalloc:
            var text: UnsafePointer<CChar>?
            var length = MemoryLayout<UnsafePointer<CChar>?>.size
            guard let mallctl = Self.mallctl, mallctl("version", &text, &length, nil, 0) == 0, let text else { return "unknown" }
            return String(cString: text)
        case .mimalloc:
            // mi_version() is major × 100 + minor × 10 + patch (209 is 2.0.9).
            typealias Version = @convention(c) () -> Int32
            guard let number = Self.function("mi_version", as: Version.self)?() else { return "unknown" }
            return "\(number / 100).\(number / 10 % 10).\(number % 10)"
        case .tcmalloc:
            typealias Version = @convention(c) (
                UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?
            ) -> UnsafePointer<CChar>?
            return Self.function("tc_version", as: Version.self).flatMap { $0(nil, nil, nil) }.map { String(cString: $0) }
                ?? "unknown"
        case .other:
            return "unknown"
        }
    }

    /// Returns the allocator's free memory to the OS with its own API (see
    /// ``Identity/releaseCall``). Returns false when the call is missing or failed.
    @discardableResult
    func releaseFreeMemory() -> Bool {
        switch self.identity {
        case .glibc:
            typealias Trim = @convention(c) (Int) -> Int32
            guard let trim = Self.function("malloc_trim", as: Trim.self) else { return false }
            _ = trim(0)  // returns 0 when nothing could be released, which is not a failure
            return true
        case .jemalloc:
            guard let mallctl = Self.mallctl else { return false }
            // MALLCTL_ARENAS_ALL (4096 in jemalloc 5) addresses every arena at once.
            let flushed = mallctl("thread.tcache.flush", nil, nil, nil, 0) == 0
            return mallctl("arena.4096.purge", nil, nil, nil, 0) == 0 && flushed
        case .mimalloc:
            typealias Collect = @convention(c) (Bool) -> Void
            guard let collect = Self.function("mi_collect", as: Collect.self) else { return false }
            collect(true)
            return true
        case .tcmalloc:
            typealias Release = @convention(c) () -> Void
            guard let release = Self.function("MallocExtension_ReleaseFreeMemory", as: Release.self) else { return false }
            release()
            return true
        case .other:
            return false
        }
    }

    // MARK: Symbols

    private typealias Mallctl = @convention(c) (
        UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int
    ) -> Int32

    private static var mallctl: Mallctl? { Self.function("mallctl", as: Mallctl.self) }

    /// The address of `name` in the global scope (RTLD_DEFAULT), or nil.
    static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(nil, name)  // a nil handle is RTLD_DEFAULT
    }

    private static func function<Function>(_ name: String, as type: Function.Type) -> Function? {
        Self.symbol(name).map { unsafeBitCast($0, to: type) }
    }

    /// The file mapped at the address of `name` (dladdr is not visible to Swift here, so
    /// /proc/self/maps tells which object holds it).
    static func definingFile(of name: String) -> String? {
        guard let address = Self.symbol(name).map({ UInt(bitPattern: $0) }), let maps = ProcFile.read("/proc/self/maps") else {
            return nil
        }
        for line in maps.split(separator: "\n") {
            // "start-end perms offset dev inode path"
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
            if address >= start && address < end {
                return fields[5].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
