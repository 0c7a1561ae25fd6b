import Foundation
import Synchronization

/// jemalloc heap profiles at the soak's checkpoints, to attribute growth to call sites.
///
/// Off unless `CONVEYOR_SOAK_PROF_DIR` names a directory and the process runs with jemalloc's
/// sampling profiler on (`MALLOC_CONF=prof:true,lg_prof_sample:15`, jemalloc built with
/// `--enable-prof`, as Debian's is). Each checkpoint then writes `<dir>/NN-<phase>.heap`;
/// `jeprof --text --base=<dir>/01-hour_0.heap <binary> <dir>/02-hour_1.heap` lists what was
/// allocated, and is still live, between two of them, by call site.
///
/// ```swift
/// let profile = SoakHeapProfile.fromEnvironment()
/// profile?.dump(phase: "hour 0")
/// ```
///
/// `mallctl` is looked up with `dlsym`, so the soak needs no C shim and runs unchanged when
/// jemalloc is not the process allocator (then this is `nil`).
final class SoakHeapProfile: Sendable {
    private typealias Mallctl = @convention(c) (
        UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int
    ) -> Int32

    private let directory: String
    private let mallctl: Mallctl
    private let counter = Mutex<Int>(0)

    private init(directory: String, mallctl: Mallctl) {
        self.directory = directory
        self.mallctl = mallctl
    }

    /// The profile the environment asks for, or `nil` (no directory, no jemalloc, or its
    /// profiler is not active).
    static func fromEnvironment() -> SoakHeapProfile? {
        guard let directory = ProcessInfo.processInfo.environment["CONVEYOR_SOAK_PROF_DIR"], !directory.isEmpty,
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallctl")
        else { return nil }
        let mallctl = unsafeBitCast(symbol, to: Mallctl.self)
        var active = false
        var length = MemoryLayout<Bool>.size
        guard mallctl("opt.prof", &active, &length, nil, 0) == 0, active else { return nil }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return SoakHeapProfile(directory: directory, mallctl: mallctl)
    }

    /// Writes a heap profile named after `phase`; returns its path, or `nil` when jemalloc
    /// refused.
    @discardableResult
    func dump(phase: String) -> String? {
        let index = self.counter.withLock { value -> Int in
            value += 1
            return value
        }
        let name = phase.replacingOccurrences(of: " ", with: "_")
        let path = "\(self.directory)/\(index < 10 ? "0" : "")\(index)-\(name).heap"
        return path.withCString { cPath -> String? in
            var pointer: UnsafePointer<CChar>? = cPath
            return self.mallctl("prof.dump", nil, nil, &pointer, MemoryLayout<UnsafePointer<CChar>?>.size) == 0 ? path : nil
        }
    }
}
