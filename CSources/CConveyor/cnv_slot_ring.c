// Creation and destruction of the slot ring; its operations are inline in cnv_slot_ring.h.
#include "cnv_slot_ring.h"

#include <stdlib.h>

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
