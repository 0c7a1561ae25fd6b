/// A watermark with its callback and whether it is above.
struct WatermarkEntry: Sendable {
    let id: Int
    let watermark: MemoryWatermark
    let onChange: @Sendable (MemoryWatermark.Event) -> Void
    var isAbove = false

    /// Updates the state for `value`; returns the event to deliver, if any.
    mutating func evaluate(_ value: Int) -> MemoryWatermark.Event? {
        if !self.isAbove, value > self.watermark.bytes {
            self.isAbove = true
            return .crossed(value: value)
        }
        if self.isAbove, value < self.watermark.clearBelow {
            self.isAbove = false
            return .cleared(value: value)
        }
        return nil
    }
}
