/// How to run one task: its kind (for routing and statistics), priority, tags, an optional
/// explicit group, a start deadline and a cost estimate.
///
/// ```swift
/// let urgent = QueueTask(kind: "thumbnail", priority: .high, group: "cpu", deadline: .milliseconds(50))
/// try conveyor.submit(urgent) { makeThumbnail() }
/// ```
public struct QueueTask: Sendable, Hashable {
    /// The task's kind: routing rules and learned service times are per kind.
    public var kind: String
    public var priority: Priority
    public var tags: Set<String>
    /// Run in this group, bypassing routing rules.
    public var group: String?
    /// The task must *start* within this time of its submission, or it fails with
    /// ``ConveyorError/deadlineExceeded(kind:)``. A task that started in time runs to the end.
    public var deadline: Duration?
    /// The submitter's guess of the service time, used by cost routing rules.
    public var costEstimate: Duration?

    /// The kind of tasks that name none.
    public static let defaultKind = "task"

    public init(
        kind: String = QueueTask.defaultKind,
        priority: Priority = .normal,
        tags: Set<String> = [],
        group: String? = nil,
        deadline: Duration? = nil,
        costEstimate: Duration? = nil
    ) {
        self.kind = kind
        self.priority = priority
        self.tags = tags
        self.group = group
        self.deadline = deadline
        self.costEstimate = costEstimate
    }

    /// A priority level: 0 is the highest. Levels beyond a group's count use its lowest lane.
    public struct Priority: Sendable, Hashable, Comparable {
        public var level: Int

        public init(level: Int) {
            self.level = max(0, level)
        }

        public static let high = Priority(level: 0)
        public static let normal = Priority(level: 1)
        public static let low = Priority(level: 2)

        /// Higher priority compares greater.
        public static func < (lhs: Priority, rhs: Priority) -> Bool {
            lhs.level > rhs.level
        }
    }
}
