// Creation and destruction of the slot ring; its operations are inline in cnv_slot_ring.h.
#include "cnv_slot_ring.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#define CNV_SLOT_RING_MAGIC UINT64_C(0x544f4c5359564e43)  // "CNVYSLOT"

int cnv_slot_ring_create(uint64_t capacity, struct cnv_slot_ring **out) {
    if (out == NULL) return CNV_EINVAL;
    *out = NULL;
    if (capacity < 2 || capacity > CNV_SLOT_RING_MAX_CAPACITY || !cnv_is_power_of_two(capacity)) return CNV_EINVAL;
    struct cnv_slot_ring *ring = cnv__aligned_zeroed(sizeof(*ring));
    if (ring == NULL) return CNV_ENOMEM;
    // 128-byte aligned: each slot is exactly one adjacent-line-prefetch pair.
    ring->slots = cnv__aligned_zeroed((size_t)capacity * sizeof(struct cnv_slot));
    if (ring->slots == NULL) {
        free(ring);
        return CNV_ENOMEM;
    }
    // Plain stores: the ring is not shared until `*out` is handed over (by the caller, with
    // whatever synchronization it publishes the ring with).
    for (uint64_t i = 0; i < capacity; i++) ring->slots[i].sequence = i;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->capacity = capacity;
    ring->mask = capacity - 1;
    ring->magic = CNV_SLOT_RING_MAGIC;
    *out = ring;
    return CNV_OK;
}

void cnv_slot_ring_destroy(struct cnv_slot_ring *ring) {
    if (ring == NULL || ring->magic != CNV_SLOT_RING_MAGIC) return;
    ring->magic = 0;
    free(ring->slots);
    free(ring);
}

uint64_t cnv_slot_ring_close(struct cnv_slot_ring *ring) {
    // Relaxed would do for the claims (see cnv_slot_ring__claim: the arbitration is the
    // modification order of `tail` alone). seq_cst keeps the engine's order simple to state:
    // the close comes after the engine's "not accepting" store and before the waits below.
    uint64_t before = atomic_fetch_or_explicit(&ring->tail, CNV_SLOT_RING_CLOSED, memory_order_seq_cst);
    return before & ~CNV_SLOT_RING_CLOSED;
}

uint64_t cnv_slot_ring_wait_published(struct cnv_slot_ring *ring, uint64_t closed_tail) {
    // Acquire: positions below head were taken, so published (a take needs every slot it
    // takes at p + 1); starting at a stale (older) head only scans more.
    uint64_t position = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t waits = 0;
    unsigned round = 0;
    while ((int64_t)(closed_tail - position) > 0) {
        // Acquire pairs with the producer's release in publish: whatever the closer does
        // next (telling the workers to drain and exit) happens after the publish, so a worker
        // that sees that also sees the slot published. "Published or later" is
        // sequence >= p + 1 (on differences): a stale read of an older lap's value (at most p)
        // keeps us waiting instead of passing an unpublished slot; a later value (p + cap:
        // released) cannot belong to a newer claim, as none is made after the close.
        uint64_t sequence = __atomic_load_n(&ring->slots[position & ring->mask].sequence, __ATOMIC_ACQUIRE);
        if ((int64_t)(sequence - (position + 1)) >= 0) {
            position++;
            round = 0;
            continue;
        }
        // Claimed, not yet published: its producer is between claim and publish (a few
        // stores) or preempted there.
        waits++;
        if (round < 64) {
            cnv_cpu_relax();
        } else if (round < 128) {
            sched_yield();
        } else {
            usleep(20);
        }
        round++;
    }
    return waits;
}
