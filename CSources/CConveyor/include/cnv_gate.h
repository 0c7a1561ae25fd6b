// The submission gate: lets shutdown wait for submits that are under way. Since issue 10 it
// guards only the overflow push (a spill, off the per-task path): ring claims are refused by
// the ring's CLOSED bit instead (cnv_slot_ring.h), and batch appends check `open` under their
// lock. Its `open` word is also what `Conveyor.isAccepting` reads.
#ifndef CNV_GATE_H
#define CNV_GATE_H

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

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

_Static_assert(sizeof(struct cnv_gate_shard) == CNV_FALSE_SHARING_RANGE, "one shard per false-sharing range");

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

#endif  // CNV_GATE_H
