/// The router's learning state for one kind, kept under the router's lock.
struct KindLearning: Sendable {
    let slot: KindSlot
    /// Whether the kind has reached `ColdStart.minimumSamples`.
    var isWarm = false
    /// The kind's side of each service-time threshold (bit j set = above threshold j).
    var sides: UInt32 = 0
    /// Per threshold: since when the learned service time has been beyond the far edge of the
    /// hysteresis band, or `nil` when it is not.
    var beyondBandSince: [ContinuousClock.Instant?]
    /// How many times the kind has switched side of a threshold after warming up.
    var crossings = 0

    init(slot: KindSlot, thresholdCount: Int) {
        self.slot = slot
        self.beyondBandSince = Array(repeating: nil, count: thresholdCount)
    }
}
