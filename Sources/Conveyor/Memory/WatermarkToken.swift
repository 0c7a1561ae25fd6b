/// Identifies a watermark for ``MemoryOptimizer/removeWatermark(_:)``.
///
/// ```swift
/// let token = try optimizer.addWatermark(bytes: 1 << 30) { print($0) }
/// optimizer.removeWatermark(token)
/// ```
public struct WatermarkToken: Sendable, Hashable {
    let id: Int
}
