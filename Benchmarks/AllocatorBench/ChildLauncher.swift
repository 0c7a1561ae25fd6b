import BenchSupport
import Foundation

/// Starts the children of `conveyor-allocators`: this same binary (`/proc/self/exe`) with the
/// hidden `--child` option, `LD_PRELOAD` set to the contender's library (removed for glibc
/// and slab), and reads the one JSON line each prints.
///
/// ```swift
/// let launcher = try ChildLauncher(preloads: [.mimalloc: "/lib/x86_64-linux-gnu/libmimalloc.so.2"], quick: true, seed: 42)
/// let sample = try launcher.run(.mimalloc, .churn)
/// ```
struct ChildLauncher {
    /// This binary.
    let executable: String
    let preloads: [AllocatorContender: String]
    let quick: Bool
    let seed: UInt64

    init(preloads: [AllocatorContender: String], quick: Bool, seed: UInt64) throws {
        self.executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        self.preloads = preloads
        self.quick = quick
        self.seed = seed
    }

    /// Runs one child to the end and returns its sample; its stderr goes to ours.
    func run(_ contender: AllocatorContender, _ workload: AllocatorWorkload) throws -> AllocatorSample {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.executable)
        process.arguments = [
            "--child", "--allocator", contender.rawValue, "--workload", workload.rawValue,
            "--seed", String(self.seed),
        ] + (self.quick ? ["--quick"] : [])
        var environment = ProcessInfo.processInfo.environment
        // Only the contender's own preload: nothing inherited may stand in front of malloc.
        environment["LD_PRELOAD"] = self.preloads[contender]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        do {
            try process.run()
        } catch {
            throw AllocatorBenchError.childFailed("cannot start \(self.executable): \(error.localizedDescription)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let what = "the \(contender.rawValue) child for \(workload.rawValue)"
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status" : "was killed by signal"
            throw AllocatorBenchError.childFailed("\(what) \(how) \(process.terminationStatus) (its messages are above)")
        }
        guard let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last(where: { !$0.isEmpty }) else {
            throw AllocatorBenchError.childFailed("\(what) printed no result")
        }
        do {
            return try Self.decoder.decode(AllocatorSample.self, from: Data(line.utf8))
        } catch {
            throw AllocatorBenchError.childFailed("\(what) printed an unreadable result (\(error)): \(line)")
        }
    }

    /// One line of JSON, as a child prints it.
    static func encode(_ sample: AllocatorSample) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(sample), as: UTF8.self)
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}
