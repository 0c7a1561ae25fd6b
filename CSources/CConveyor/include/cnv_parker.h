// Futex parking with a sleeper count (an event count).
//
// A waiter announces itself (`prepare`), re-checks its condition, then sleeps on the epoch
// word unless the epoch moved. A waker publishes its work, then looks at the sleeper count:
// when nobody is parked it makes no system call at all, which is the common case under load.
//
// No lost wake-up: the waiter's sleeper increment and the waker's sleeper load are separated
// from the work they guard by sequentially consistent operations (Dekker), so either the
// waker sees the sleeper, or the waiter's re-check sees the work. The waiter reads the
// epoch before re-checking, so a wake that lands between its re-check and its futex call
// changes the epoch and FUTEX_WAIT returns at once.
#ifndef CNV_PARKER_H
#define CNV_PARKER_H

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cnv_parker {
    /// The futex word: bumped by every wake that finds a sleeper.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint32_t epoch;
    /// Threads between prepare and the end of their park.
    _Atomic uint32_t sleepers;
    /// Statistics, on their own line: only touched on the (cold) syscall paths.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t wake_syscalls;
    _Atomic uint64_t wait_syscalls;
};

int cnv_parker_create(struct cnv_parker **out);
void cnv_parker_destroy(struct cnv_parker *parker);

/// Step 1 of parking: announce the waiter and return the epoch to wait on. The caller must
/// re-check its condition after this and then call either `cancel` or `park`.
static inline uint32_t cnv_parker_prepare(struct cnv_parker *parker) {
    atomic_fetch_add_explicit(&parker->sleepers, 1, memory_order_seq_cst);
    uint32_t epoch = atomic_load_explicit(&parker->epoch, memory_order_seq_cst);
    // Fence-to-fence with unpark: the caller's re-check (often a plain acquire load of a
    // ring) cannot move before our announcement.
    atomic_thread_fence(memory_order_seq_cst);
    return epoch;
}

/// The condition became true after `prepare`: withdraw without sleeping.
static inline void cnv_parker_cancel(struct cnv_parker *parker) {
    atomic_fetch_sub_explicit(&parker->sleepers, 1, memory_order_relaxed);
}

/// Sleeps until woken, until the epoch differs from `epoch`, or for at most `timeout_ns`
/// nanoseconds (negative: no timeout). Spurious returns are possible: re-check and loop.
/// Returns true when woken or the epoch moved, false on timeout.
bool cnv_parker_park(struct cnv_parker *parker, uint32_t epoch, int64_t timeout_ns);

/// Out-of-line half of unpark: bumps the epoch and issues FUTEX_WAKE.
void cnv_parker__wake(struct cnv_parker *parker, int count);

/// Wakes up to `count` parked threads (INT32_MAX: all). Call after publishing the work.
/// Returns true when a wake system call was made; with no sleeper it makes none.
static inline bool cnv_parker_unpark(struct cnv_parker *parker, int count) {
    // Pairs with the seq_cst increment in prepare (store-load ordering; see the header comment).
    atomic_thread_fence(memory_order_seq_cst);
    if (CNV_LIKELY(atomic_load_explicit(&parker->sleepers, memory_order_relaxed) == 0)) return false;
    cnv_parker__wake(parker, count);
    return true;
}

static inline uint32_t cnv_parker_sleepers(struct cnv_parker *parker) {
    return atomic_load_explicit(&parker->sleepers, memory_order_relaxed);
}
static inline uint64_t cnv_parker_wake_syscalls(struct cnv_parker *parker) {
    return atomic_load_explicit(&parker->wake_syscalls, memory_order_relaxed);
}
static inline uint64_t cnv_parker_wait_syscalls(struct cnv_parker *parker) {
    return atomic_load_explicit(&parker->wait_syscalls, memory_order_relaxed);
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_PARKER_H
