// Task records and the submission gate used by the engine.
//
// A task record lives in slab memory and carries everything a worker needs: the handler,
// an optional completion, timestamps and an inline payload, so a typed task needs no
// allocation. Its `state` word holds a generation (bumped on every reuse) and a state, so
// a ticket (record address + state word) can cancel exactly the task it was issued for.
#ifndef CNV_TASK_H
#define CNV_TASK_H

#include <time.h>

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Bytes of payload stored inline in a task record.
#define CNV_TASK_INLINE_PAYLOAD 64

enum cnv_task_state {
    CNV_TASK_QUEUED = 0,
    CNV_TASK_RUNNING = 1,
    CNV_TASK_CANCELLED = 2,
    CNV_TASK_EXPIRED = 3,
};

/// Plain fields (importable by Swift). `state` is only accessed through the atomic
/// builtins below; the other fields are written before the record is enqueued and read
/// after it is dequeued, ordered by the ring's release/acquire.
struct cnv_task_record {
    uint64_t state;
    /// Time-stamp-counter ticks at submit (MonotonicClock.ticks()); 0 when not timed.
    uint64_t submit_ticks;
    /// Monotonic nanoseconds by which the task must start; 0 for none.
    uint64_t deadline_ns;
    /// The handler: an unretained kind box (typed tasks) or a retained closure box.
    void *handler;
    /// A retained completion box (`run` callers), or NULL.
    void *completion;
    uint32_t kind;
    uint16_t priority;
    uint16_t flags;
    uint64_t reserved;
    _Alignas(16) uint8_t payload[CNV_TASK_INLINE_PAYLOAD];
};

#define CNV_TASK_STATE_BITS 8
#define CNV_TASK_STATE_MASK 0xffull

static inline void *cnv_task_payload(struct cnv_task_record *record) {
    return record->payload;
}

/// Prepares a reused record for a new task; returns the state word a ticket must quote.
/// Relaxed: the record is not shared until the ring publishes it.
static inline uint64_t cnv_task_begin(struct cnv_task_record *record) {
    uint64_t old = __atomic_load_n(&record->state, __ATOMIC_RELAXED);
    uint64_t fresh = ((old >> CNV_TASK_STATE_BITS) + 1) << CNV_TASK_STATE_BITS | CNV_TASK_QUEUED;
    __atomic_store_n(&record->state, fresh, __ATOMIC_RELAXED);
    return fresh;
}

/// Moves a queued task to `to` (RUNNING, CANCELLED or EXPIRED) if it is still the task the
/// ticket `expected` names. Exactly one of a worker starting it, a cancel and a deadline
/// timer wins. acq_rel: the winner sees the record's fields and publishes its decision.
static inline bool cnv_task_transition(struct cnv_task_record *record, uint64_t expected,
                                       enum cnv_task_state to) {
    uint64_t desired = (expected & ~CNV_TASK_STATE_MASK) | (uint64_t)to;
    return __atomic_compare_exchange_n(&record->state, &expected, desired, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/// The state word as it is now (acquire: pairs with the transition that wrote it).
static inline uint64_t cnv_task_state_word(struct cnv_task_record *record) {
    return __atomic_load_n(&record->state, __ATOMIC_ACQUIRE);
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC through the vDSO).
static inline uint64_t cnv_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/// Set on engine worker threads, so a submit from inside a handler can refuse to wait
/// for room that only its own thread could make.
extern _Thread_local uint32_t cnv_worker_thread_flag __attribute__((tls_model("initial-exec")));

static inline bool cnv_on_worker_thread(void) {
    return cnv_worker_thread_flag != 0;
}

static inline void cnv_set_worker_thread(bool on) {
    cnv_worker_thread_flag = on ? 1u : 0u;
}

// MARK: Submission gate

/// Counters sharded by CPU. A submitter increments the counter of the CPU it runs on
/// before it checks `open` and decrements the same counter when its enqueue is done, so a
/// closer that sees every shard at zero after closing knows no enqueue is in flight.
/// Sharding keeps the per-submit read-modify-write on a line no other CPU writes.
#define CNV_GATE_SHARDS 64

/// glibc declares it only under _GNU_SOURCE, which the Swift importer does not define.
extern int sched_getcpu(void);

struct cnv_gate_shard {
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic int64_t inside;
};

struct cnv_gate {
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint32_t open;
    struct cnv_gate_shard shards[CNV_GATE_SHARDS];
};

int cnv_gate_create(struct cnv_gate **out);
void cnv_gate_destroy(struct cnv_gate *gate);

/// Enters the gate. Returns the shard to pass to `cnv_gate_leave`, or -1 when the gate is
/// closed (nothing to leave then).
static inline int cnv_gate_enter(struct cnv_gate *gate) {
    int cpu = sched_getcpu();
    int shard = (cpu < 0 ? 0 : cpu) & (CNV_GATE_SHARDS - 1);
    // seq_cst increment, then seq_cst load of `open`; the closer stores `open` then loads the
    // shards, both seq_cst: either it sees us inside, or we see the gate closed.
    atomic_fetch_add_explicit(&gate->shards[shard].inside, 1, memory_order_seq_cst);
    if (CNV_UNLIKELY(atomic_load_explicit(&gate->open, memory_order_seq_cst) == 0)) {
        atomic_fetch_sub_explicit(&gate->shards[shard].inside, 1, memory_order_release);
        return -1;
    }
    return shard;
}

/// Leaves the gate (release: the enqueue done inside happens before the closer's check).
static inline void cnv_gate_leave(struct cnv_gate *gate, int shard) {
    atomic_fetch_sub_explicit(&gate->shards[shard].inside, 1, memory_order_release);
}

static inline bool cnv_gate_is_open(struct cnv_gate *gate) {
    return atomic_load_explicit(&gate->open, memory_order_acquire) != 0;
}

/// Closes the gate, then waits (sleeping briefly) until no submitter is inside.
void cnv_gate_close_and_wait(struct cnv_gate *gate);

#ifdef __cplusplus
}
#endif

#endif  // CNV_TASK_H
