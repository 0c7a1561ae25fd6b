/// A weak reference to a tracked pool: the optimizer never keeps a pool alive.
struct TrackedPoolReference: Sendable {
    weak var pool: (any TrackedPool)?
}
