// Task records used by the engine.
//
// A task record lives in slab memory and carries everything a worker needs: the handler,
// timestamps and an inline payload, so a typed task needs no allocation. Its `state` word
// holds a generation (bumped on every reuse) and a state, so a ticket (record address +
// state word) can cancel exactly the task it was issued for.
#ifndef CNV_TASK_H
#define CNV_TASK_H

#include <malloc.h>
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

/// `flags` bit: `handler` is a retained reference (`run` tasks), released once the task is
/// settled. Without it the handler belongs to the engine's kind table (typed kinds, and the
/// closure handler, whose tasks keep the closure itself in the payload).
#define CNV_TASK_FLAG_RETAINED 1u
/// `flags` bit: the record is the record of a lane's ring slot (cnv_slot_ring.h), not a slab
/// record: whoever settles the task releases the slot (lane: `priority`) instead of freeing it.
#define CNV_TASK_FLAG_IN_SLOT 8u
/// `flags` bit of a slot's record: the slot carries no task of its own but, in `handler`, the
/// address of a slab record (tasks that need one: `run`, async and batch kinds, and submits
/// that found the ring full once). A worker releases such a slot as soon as it took it.
#define CNV_TASK_FLAG_INDIRECT 16u

/// Plain fields (importable by Swift). `state` is only accessed through the atomic
/// builtins below; the other fields are written before the record is enqueued and read
/// after it is dequeued, ordered by the ring's release/acquire.
struct cnv_task_record {
    uint64_t state;
    /// Time-stamp-counter ticks at submit (MonotonicClock.ticks()); 0 when not timed.
    uint64_t submit_ticks;
    /// Monotonic nanoseconds by which the task must start; 0 for none.
    uint64_t deadline_ns;
    /// The handler: a kind handler the engine's kind table keeps alive (typed tasks), or a
    /// retained closure box (CNV_TASK_FLAG_RETAINED).
    void *handler;
    /// Bytes this task counts against its group's spill memory limit while it sits in the
    /// overflow queue (0 while it is in a ring).
    uint32_t spill_charge;
    uint16_t priority;
    uint16_t flags;
    /// Spelled-out padding up to the payload's 16-byte alignment.
    uint8_t padding[8];
    _Alignas(16) uint8_t payload[CNV_TASK_INLINE_PAYLOAD];
};

// Swift sizes records (`Conveyor.taskRecordSize`) and reads fields by name; keep the layout fixed.
_Static_assert(sizeof(struct cnv_task_record) == 112, "task record layout changed");
_Static_assert(_Alignof(struct cnv_task_record) == 16, "task record alignment changed");
_Static_assert(offsetof(struct cnv_task_record, payload) == 48, "payload offset changed");

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

/// Usable bytes of a heap block (for the spill limit's count of a closure task's box).
static inline size_t cnv_allocation_size(void *pointer) {
    return malloc_usable_size(pointer);
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

#ifdef __cplusplus
}
#endif

#endif  // CNV_TASK_H
