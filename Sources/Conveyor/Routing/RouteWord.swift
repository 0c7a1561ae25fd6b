/// The per-kind decision word that `Router.route` reads with one atomic load.
///
/// Layout (a `UInt64`):
/// - bits 0–31: the kind's side of each service-time threshold (1 = above), bit j for
///   threshold j;
/// - bit 32: the kind is warm (has enough samples for its learned service time to count);
/// - bits 40–63: the cached group index + 1, or 0 when the decision depends on the task
///   (its tags or cost estimate) and the candidate rules must be evaluated per task.
struct RouteWord: Sendable, Hashable {
    static let maximumThresholds = 32
    static let maximumGroups = (1 << 24) - 1

    private static let warmBit: UInt64 = 1 << 32
    private static let groupShift: UInt64 = 40

    var rawValue: UInt64

    init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    init(sides: UInt32, isWarm: Bool, cachedGroup: Int?) {
        var raw = UInt64(sides)
        if isWarm { raw |= Self.warmBit }
        if let cachedGroup { raw |= UInt64(cachedGroup + 1) << Self.groupShift }
        self.rawValue = raw
    }

    var sides: UInt32 { UInt32(truncatingIfNeeded: self.rawValue) }
    var isWarm: Bool { self.rawValue & Self.warmBit != 0 }

    /// The cached group index, or `nil` when the task must be evaluated.
    var cachedGroup: Int? {
        let stored = Int(self.rawValue >> Self.groupShift)
        return stored == 0 ? nil : stored - 1
    }

    func isAbove(threshold: Int) -> Bool {
        self.sides & (1 << UInt32(threshold)) != 0
    }
}
