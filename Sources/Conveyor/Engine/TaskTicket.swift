import CConveyor

/// A receipt for a submitted task, for ``Conveyor/cancel(_:)``. A plain value (no allocation).
///
/// A ticket names exactly one task: once that task started, finished or was cancelled, the
/// ticket no longer matches anything, even though its record memory is reused.
public struct TaskTicket: Sendable, Hashable {
    let recordAddress: UInt
    let stateWord: UInt64

    var record: UnsafeMutablePointer<cnv_task_record> {
        UnsafeMutablePointer(bitPattern: self.recordAddress)!
    }
}
