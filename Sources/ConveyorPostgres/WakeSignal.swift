import Synchronization

/// A wake-up with a timeout: `signal()` resumes the current waiter at once, or makes the next
/// `wait` return at once if nobody waits. Used between the LISTEN connection and the fetch
/// loops, and by `run` callers waiting for a result.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var next: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits whose timeout or cancellation came before they registered their continuation.
        var expired: Set<UInt64> = []
    }
    private let state = Mutex(State())

    func signal() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if state.waiters.isEmpty {
                state.pending = true
                return []
            }
            let all = Array(state.waiters.values)
            state.waiters.removeAll()
            return all
        }
        for continuation in waiting { continuation.resume() }
    }

    private func resume(_ id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let continuation = state.waiters.removeValue(forKey: id) { return continuation }
            state.expired.insert(id)
            return nil
        }
        continuation?.resume()
    }

    /// Returns when signalled, after `timeout`, or when the calling task is cancelled.
    func wait(timeout: Duration) async {
        let id: UInt64? = state.withLock { state in
            if state.pending {
                state.pending = false
                return nil
            }
            state.next &+= 1
            return state.next
        }
        guard let id else { return }
        let timer = Task { [weak self] in
            // Only a timeout that really elapsed resumes (a cancelled timer must not).
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self?.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.expired.remove(id) != nil { return true }
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.resume(id)
        }
        timer.cancel()
        // A timer that fired after a signal resumed us leaves its id behind: drop it.
        state.withLock { _ = $0.expired.remove(id) }
    }
}
