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
    /// Consumers that are looking for work (spinning, or just woken) and will see any work
    /// published now before they park (see `cnv_parker_notify`). Written when a consumer
    /// starts or stops looking, never per task while it keeps finding work.
    _Atomic uint32_t searching;
    /// 1 while a wake by `notify`/`pass_on` is in flight (set by the waker, cleared by the
    /// thread that returns from its park, or by the waker when its wake reached nobody): a
    /// burst of submits while a woken worker is still getting up makes one system call, not one each.
    _Atomic uint32_t wake_pending;
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
/// Out-of-line half of notify/pass_on: one wake unless one is in flight (`wake_pending`).
bool cnv_parker__wake_one(struct cnv_parker *parker);

/// Wakes up to `count` parked threads (INT32_MAX: all). Call after publishing the work.
/// Returns true when a wake system call was made; with no sleeper it makes none.
static inline bool cnv_parker_unpark(struct cnv_parker *parker, int count) {
    // Pairs with the seq_cst increment in prepare (store-load ordering; see the header comment).
    atomic_thread_fence(memory_order_seq_cst);
    if (CNV_LIKELY(atomic_load_explicit(&parker->sleepers, memory_order_relaxed) == 0)) return false;
    cnv_parker__wake(parker, count);
    return true;
}

// MARK: Waking only when needed (the engine's workers)
//
// A submitter that publishes work calls `cnv_parker_notify`: one seq_cst fence and one load
// of the line holding `searching` and `sleepers`; it makes the wake system call only when no
// consumer is searching and some sleep. A consumer that finds nothing calls
// `cnv_parker_begin_search` (once), spins on its queues, then `cnv_parker_end_search` before
// it parks (prepare, re-check, park) — and also when it finds work; if it was the last
// searcher and work is still queued, it wakes one sleeper itself (`cnv_parker_pass_on`).
//
// Wake storms. While a woken worker is still getting up (tens of microseconds), `sleepers`
// still counts it; every submit in that window would wake again. So a waker first sets
// `wake_pending` (compare-and-swap 0 → 1) and skips the call when a wake is in flight. The
// thread that returns from a park clears it (seq_cst exchange, then a fence, before it looks
// at the queues); a waker whose FUTEX_WAKE reached nobody clears it itself and checks again.
//
// No lost wake-up. Take a submitter S that publishes task T, then fences (F_S) and reads
// `searching` = n. (1) n == 0: S reads `sleepers`; a consumer C that parks did
// `searching--`, `sleepers++`, fence F_C, re-check. Either F_C precedes F_S in the single
// order of seq_cst fences, so S sees C's `sleepers++` and wakes it, or F_S precedes F_C and
// C's re-check sees T. (2) n > 0: some searcher C2 had not yet done its `searching--` when S
// read the counter, so that RMW follows S's read in the counter's modification order, and
// C2's fence after it follows F_S: C2's next look at the queues (its re-check) sees T. C2
// either takes T, or takes other work and then — being the last searcher, with T still
// queued — wakes a sleeper; or it parks only after its re-check found nothing, which cannot
// be, since T is there. So T is taken, or a sleeper is woken for it, in every case.
// (3) n == 0, a sleeper, but `wake_pending` = 1: the flag is cleared later (it was read as 1)
// by a thread that then fences and looks at the queues (Dekker: its look sees T), or by the
// waker, which then fences and re-reads `sleepers`/`searching`: a consumer that S saw
// announce itself but that missed T, and that the waker's re-read misses, fences after the
// waker's fence, which follows F_S, so its re-check sees T and it does not park.
// Consumers also park with a timeout as a second line of defence, never needed for the above.

/// A consumer starts looking for work (it is counted as searching until `end_search`).
/// Relaxed: S skipping its wake because of this count is safe only because of the
/// seq_cst `end_search` that every search ends with (see above); this increment needs no order.
static inline void cnv_parker_begin_search(struct cnv_parker *parker) {
    atomic_fetch_add_explicit(&parker->searching, 1, memory_order_relaxed);
}

/// A consumer stops searching (it found work, or it is about to park). Returns how many were
/// searching before (1: it was the last). The seq_cst RMW plus fence order its following
/// re-check of the queues after any submitter fence that read the old count.
static inline uint32_t cnv_parker_end_search(struct cnv_parker *parker) {
    uint32_t before = atomic_fetch_sub_explicit(&parker->searching, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    return before;
}

/// The submitter's half: call after publishing work. Makes a wake system call only when no
/// consumer is searching and one sleeps. Returns true when it made one.
static inline bool cnv_parker_notify(struct cnv_parker *parker) {
    // Pairs with the seq_cst RMWs and fences of end_search and prepare (see above).
    atomic_thread_fence(memory_order_seq_cst);
    if (CNV_LIKELY(atomic_load_explicit(&parker->searching, memory_order_relaxed) != 0)) return false;
    if (CNV_LIKELY(atomic_load_explicit(&parker->sleepers, memory_order_relaxed) == 0)) return false;
    if (atomic_load_explicit(&parker->wake_pending, memory_order_relaxed) != 0) return false;
    return cnv_parker__wake_one(parker);
}

/// A consumer that stopped searching as the last searcher and still sees queued work wakes
/// one sleeper for it (so the work does not wait behind the handler it is about to run).
static inline bool cnv_parker_pass_on(struct cnv_parker *parker) {
    if (CNV_LIKELY(atomic_load_explicit(&parker->sleepers, memory_order_relaxed) == 0)) return false;
    if (atomic_load_explicit(&parker->wake_pending, memory_order_relaxed) != 0) return false;
    return cnv_parker__wake_one(parker);
}

static inline uint32_t cnv_parker_searching(struct cnv_parker *parker) {
    return atomic_load_explicit(&parker->searching, memory_order_relaxed);
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

_Static_assert(offsetof(struct cnv_parker, wake_pending) < CNV_CACHE_LINE,
               "submitters read sleepers, searching and wake_pending in one line");

#ifdef __cplusplus
}
#endif

#endif  // CNV_PARKER_H
