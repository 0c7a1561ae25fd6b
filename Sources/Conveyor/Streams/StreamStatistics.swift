import Synchronization

/// A ``StreamProcessor``'s counters over every stream it ran.
///
/// ```swift
/// let stats = processor.statistics
/// print("\(stats.elements) inputs in \(stats.chunks) chunks, peak \(stats.peakBytesInFlight) bytes in flight")
/// ```
public struct StreamStatistics: Sendable, Hashable {
    /// Inputs accepted into chunks.
    public var elements: Int
    /// Chunks admitted (launched on the engine).
    public var chunks: Int
    /// Chunks whose task finished (with a value or an error).
    public var completedChunks: Int
    /// Bytes in flight now, over all running streams: inputs as the size function measures
    /// them plus the stream's storage for each chunk (what admission charges).
    public var bytesInFlight: Int
    /// The most bytes in flight at once so far.
    public var peakBytesInFlight: Int
}

/// The atomic counters behind ``StreamStatistics`` (written once per chunk, not per input).
final class StreamCounters: Sendable {
    private let elements = Atomic<Int>(0)
    private let chunks = Atomic<Int>(0)
    private let completedChunks = Atomic<Int>(0)
    private let bytesInFlight = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)

    func accepted(elements: Int, bytes: Int) {
        // Relaxed everywhere: these are statistics, read as a snapshot with no ordering
        // promise between the counters.
        self.elements.add(elements, ordering: .relaxed)
        self.chunks.add(1, ordering: .relaxed)
    }

    func inFlight(bytesAdded bytes: Int) {
        let now = self.bytesInFlight.add(bytes, ordering: .relaxed).newValue
        var seen = self.peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = self.peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    func released(bytes: Int) {
        if bytes != 0 { self.bytesInFlight.subtract(bytes, ordering: .relaxed) }
    }

    func completed() {
        self.completedChunks.add(1, ordering: .relaxed)
    }

    func snapshot() -> StreamStatistics {
        StreamStatistics(
            elements: self.elements.load(ordering: .relaxed), chunks: self.chunks.load(ordering: .relaxed),
            completedChunks: self.completedChunks.load(ordering: .relaxed),
            bytesInFlight: self.bytesInFlight.load(ordering: .relaxed), peakBytesInFlight: self.peak.load(ordering: .relaxed))
    }
}
