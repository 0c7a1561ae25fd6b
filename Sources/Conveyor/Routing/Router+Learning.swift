extension Router {
    /// Merges a worker's batch of service-time samples, empties it, and updates the routing of
    /// every kind in it.
    ///
    /// Call it every N tasks or every few milliseconds per worker, not per task: it takes the
    /// router's lock. `now` is the time the hysteresis dwell is measured with; pass the same
    /// clock's instants every time (tests pass chosen instants).
    ///
    /// ```swift
    /// var samples = ServiceTimeSamples()
    /// // … samples.record(kind:serviceTime:) after each task …
    /// if samples.count >= 64 { router.publish(&samples, at: .now) }
    /// ```
    func publish(_ samples: inout ServiceTimeSamples, at now: ContinuousClock.Instant = .now) {
        guard !samples.isEmpty else { return }
        // Lock order: router, then estimator (the estimator never calls back into the router
        // outside this closure).
        self.state.withLock { state in
            self.estimator.publish(&samples) { kind, entry in
                var learning = state.kinds[kind] ?? self.addKind(kind, hash: kind.hashValue, to: &state)
                self.learn(&learning, averageNanoseconds: entry.nanoseconds, sampleCount: entry.sampleCount, now: now)
                state.kinds[kind] = learning
            }
        }
    }

    /// What the router has learned about `kind`, or `nil` for a kind it has never seen.
    func status(of kind: String) -> KindStatus? {
        self.state.withLock { state in
            guard let learning = state.kinds[kind] else { return nil }
            let estimate = self.estimator.estimate(for: kind)
            return KindStatus(
                kind: kind,
                serviceTime: estimate?.serviceTime,
                sampleCount: estimate?.sampleCount ?? 0,
                isWarm: learning.isWarm,
                thresholdCrossings: learning.crossings,
                cachedGroup: RouteWord(rawValue: learning.slot.word.load(ordering: .relaxed)).cachedGroup
            )
        }
    }

    /// Moves a kind's sides with the hysteresis and republishes its word when it changed.
    func learn(_ learning: inout KindLearning, averageNanoseconds average: Double, sampleCount: Int, now: ContinuousClock.Instant) {
        if !learning.isWarm {
            guard sampleCount >= self.coldStart.minimumSamples else { return }
            // Leaving cold start: the first sides are plain comparisons, there is nothing to
            // flap from yet.
            learning.isWarm = true
            learning.sides = 0
            for (bit, threshold) in self.thresholds.enumerated() where average > threshold {
                learning.sides |= 1 << UInt32(bit)
            }
        } else {
            let margin = self.hysteresis.margin
            for (bit, threshold) in self.thresholds.enumerated() {
                let mask: UInt32 = 1 << UInt32(bit)
                let isAbove = learning.sides & mask != 0
                let beyondBand = isAbove ? average < threshold * (1 - margin) : average > threshold * (1 + margin)
                guard beyondBand else {
                    learning.beyondBandSince[bit] = nil
                    continue
                }
                let since = learning.beyondBandSince[bit] ?? now
                if since.duration(to: now) >= self.hysteresis.minimumDwell {
                    learning.sides ^= mask
                    learning.beyondBandSince[bit] = nil
                    learning.crossings += 1
                } else {
                    learning.beyondBandSince[bit] = since
                }
            }
        }
        let word = self.routeWord(for: learning).rawValue
        if learning.slot.word.load(ordering: .relaxed) != word {
            learning.slot.word.store(word, ordering: .releasing)
        }
    }
}
