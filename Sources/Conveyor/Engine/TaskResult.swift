/// What ``Conveyor/run(_:_:)`` returns: the handler's value and where and how long it ran.
public struct TaskResult<Value: Sendable>: Sendable {
    public var value: Value
    /// The group that ran it.
    public var group: String
    /// Submit to handler start.
    public var queueWait: Duration
    /// Handler start to end.
    public var serviceTime: Duration

    @usableFromInline
    init(value: Value, group: String, queueWait: Duration, serviceTime: Duration) {
        self.value = value
        self.group = group
        self.queueWait = queueWait
        self.serviceTime = serviceTime
    }
}

/// A task that did not complete, as reported to ``Conveyor/failures`` and the failure handler.
public struct TaskFailure: Sendable, CustomStringConvertible {
    public var kind: String
    public var group: String
    /// What happened: the handler's error, or a ``ConveyorError`` (deadline, shutdown, …).
    public var error: any Error

    public var description: String { "task \"\(self.kind)\" in group \"\(self.group)\" failed: \(self.error)" }
}
