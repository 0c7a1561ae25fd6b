import CConveyor

/// A named group of worker threads with its own queues and concurrency limit.
///
/// Tasks routed to a group run on its worker threads (OS threads, not the Swift cooperative
/// pool), at most the group's current worker count at once. Each priority level has its own
/// bounded lock-free ring of ``capacity`` slots.
///
/// ```swift
/// let cpu = ResourceGroup("cpu", minWorkers: 2)
/// let io = ResourceGroup("io", minWorkers: 1, maxWorkers: 8, initialWorkers: 2, capacity: 4096,
///                        overflow: .spill(memoryLimit: 32 << 20))
/// ```
public struct ResourceGroup: Sendable, Hashable {
    /// Unique name; tasks name it to route explicitly.
    public var name: String
    /// The fewest workers the group may run; ``Conveyor/resize(group:workers:)`` stays within
    /// `minWorkers...maxWorkers`.
    public var minWorkers: Int
    /// The most workers the group may run.
    public var maxWorkers: Int
    /// Workers started with the group (defaults to the lower bound).
    public var initialWorkers: Int
    /// Slots in each priority lane's ring: a power of two; all lanes' rings together take at
    /// most ``maximumRingBytes``.
    public var capacity: Int
    /// Number of priority levels (lane 0 is the highest).
    public var priorityLevels: Int
    /// What a submit does when its lane's ring is full. The default,
    /// ``OverflowPolicy/defaultPolicy`` (`.wait(timeout: .seconds(10))`), makes the obvious
    /// loop of synchronous submits from one thread block until the workers make room, so it
    /// neither loses work nor grows memory; `.reject` refuses at once instead.
    public var overflow: OverflowPolicy
    /// A non-empty lower-priority lane is served at least once per `agingBound`, however
    /// busy the higher lanes are. Must be positive; bounds beyond ``Conveyor/longestDuration``
    /// act as that long.
    public var agingBound: Duration
    /// Tasks a worker takes from a lane in one ring operation. It also bounds priority
    /// inversion: a task of higher priority that arrives while a worker holds a batch waits
    /// behind at most `batchSize − 1` of that worker's tasks.
    public var batchSize: Int
    /// Async tasks (async kinds and async `run` bodies) of this group in flight at once,
    /// suspended ones included: N means N tasks at once, not N threads. nil (the default)
    /// means `maxWorkers`. Synchronous tasks are bounded by the worker count instead (each
    /// worker runs one at a time); the two limits are separate (docs/Concurrency.md).
    public var asyncLimit: Int?

    public init(
        _ name: String,
        minWorkers: Int = 1,
        maxWorkers: Int? = nil,
        initialWorkers: Int? = nil,
        capacity: Int = 4096,
        priorityLevels: Int = 3,
        overflow: OverflowPolicy = .defaultPolicy,
        agingBound: Duration = .milliseconds(20),
        batchSize: Int = 32,
        asyncLimit: Int? = nil
    ) {
        self.name = name
        self.minWorkers = minWorkers
        self.maxWorkers = maxWorkers ?? minWorkers
        self.initialWorkers = initialWorkers ?? minWorkers
        self.capacity = capacity
        self.priorityLevels = priorityLevels
        self.overflow = overflow
        self.agingBound = agingBound
        self.batchSize = batchSize
        self.asyncLimit = asyncLimit
    }

    /// Largest worker count a group may have.
    public static let maximumWorkers = 256

    /// Largest ``asyncLimit``.
    public static let maximumAsyncLimit = 1 << 20

    /// Most bytes a group's rings may take (`capacity` × `priorityLevels` slots, allocated
    /// when the Conveyor starts): 256 MiB. A slot is 128 bytes and holds the queued task itself
    /// (record and inline payload: no record is allocated per task), so this is 2²¹ queued
    /// tasks; the default group (4096 × 3) takes 1.5 MiB. Larger queues belong in
    /// `.spill(memoryLimit:)`, which takes memory only while tasks wait.
    public static let maximumRingBytes = 256 << 20

    /// Bytes of one ring slot (`cnv_slot`: sequence word, task record, inline payload).
    static var ringSlotBytes: Int { MemoryLayout<cnv_slot>.stride }

    func validate() throws {
        func invalid(_ reason: String) -> ConveyorError {
            .invalidConfiguration(reason: "group \"\(self.name)\": \(reason)")
        }
        guard self.name.contains(where: { !$0.isWhitespace }) else {
            throw ConveyorError.invalidConfiguration(
                reason: "a ResourceGroup needs a name with at least one visible character (got \"\(self.name)\")")
        }
        guard self.minWorkers >= 1 else {
            throw invalid("minWorkers must be at least 1 (got \(self.minWorkers))")
        }
        guard self.minWorkers <= self.maxWorkers else {
            throw invalid("minWorkers \(self.minWorkers) is greater than maxWorkers \(self.maxWorkers)")
        }
        guard self.maxWorkers <= Self.maximumWorkers else {
            throw invalid("at most \(Self.maximumWorkers) workers (got maxWorkers \(self.maxWorkers))")
        }
        guard (self.minWorkers...self.maxWorkers).contains(self.initialWorkers) else {
            throw invalid("initialWorkers \(self.initialWorkers) is outside \(self.minWorkers)...\(self.maxWorkers)")
        }
        guard self.capacity >= 2, self.capacity & (self.capacity - 1) == 0, self.capacity <= 1 << 24 else {
            throw invalid("capacity \(self.capacity) must be a power of two from 2 to \(1 << 24)")
        }
        guard (1...8).contains(self.priorityLevels) else {
            throw invalid("priorityLevels \(self.priorityLevels) must be from 1 to 8")
        }
        let ringBytes = self.capacity * self.priorityLevels * Self.ringSlotBytes
        guard ringBytes <= Self.maximumRingBytes else {
            throw invalid(
                "capacity \(self.capacity) × priorityLevels \(self.priorityLevels) would take \(ringBytes >> 20) MiB of ring "
                    + "slots (\(Self.ringSlotBytes) B each, allocated up front); at most \(Self.maximumRingBytes >> 20) MiB per "
                    + "group: lower capacity or priorityLevels, or use .spill(memoryLimit:) to absorb bursts")
        }
        guard self.agingBound > .zero else {
            throw invalid("agingBound must be positive")
        }
        // Longer aging bounds (up to .seconds(Int64.max)) act as Conveyor.longestDuration.
        guard (1...256).contains(self.batchSize) else {
            throw invalid("batchSize \(self.batchSize) must be from 1 to 256")
        }
        if let limit = self.asyncLimit, !(1...Self.maximumAsyncLimit).contains(limit) {
            throw invalid("asyncLimit \(limit) must be from 1 to \(Self.maximumAsyncLimit) (or nil for maxWorkers)")
        }
        switch self.overflow {
        case .reject: break
        case .wait(let timeout):
            guard timeout >= .zero else { throw invalid("the wait timeout must not be negative") }
        case .spill(let limit):
            guard limit > 0 else { throw invalid("the spill memoryLimit must be positive (bytes)") }
        }
    }
}
