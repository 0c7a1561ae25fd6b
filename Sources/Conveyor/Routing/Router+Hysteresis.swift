extension Router {
    /// Keeps a kind from flapping between groups when its service time hovers near a
    /// threshold.
    ///
    /// A kind is on one side of each service-time threshold t. It changes side only when
    /// both hold:
    /// 1. its learned service time is beyond the far edge of a band around t: above
    ///    t × (1 + `margin`) to go above, below t × (1 − `margin`) to come back below;
    /// 2. it has stayed beyond that edge, at every publish of the kind's samples, for at least
    ///    `minimumDwell` (measured with the instants passed to ``Router/publish(_:at:)``).
    ///
    /// A publish inside the band resets the dwell timer. The side is first set, without
    /// hysteresis, when the kind leaves cold start (see ``Router/ColdStart``). Time passes
    /// only through `publish(_:at:)`, so tests drive it with chosen instants.
    ///
    /// ```swift
    /// // Switch at ±20 % of the threshold, after staying there for 100 ms.
    /// let hysteresis = Router.Hysteresis(margin: 0.2, minimumDwell: .milliseconds(100))
    /// ```
    public struct Hysteresis: Sendable, Hashable {
        /// The half-width of the band, as a fraction of the threshold, in [0, 1).
        public var margin: Double
        /// How long the service time must stay beyond the band before the kind switches.
        public var minimumDwell: Duration

        /// - Parameters:
        ///   - margin: the band's half-width as a fraction of the threshold; default 0.2.
        ///   - minimumDwell: time beyond the band before switching; default 100 ms.
        public init(margin: Double = 0.2, minimumDwell: Duration = .milliseconds(100)) {
            self.margin = margin
            self.minimumDwell = minimumDwell
        }

        /// No band and no dwell: a kind switches as soon as its service time crosses.
        public static let none = Hysteresis(margin: 0, minimumDwell: .zero)
    }
}
