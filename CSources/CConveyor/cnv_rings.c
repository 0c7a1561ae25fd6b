// Creation and destruction of the rings; their operations are inline in the headers.
#include "cnv_mpmc_ring.h"
#include "cnv_spsc_ring.h"
#include "cnv_fault.h"

#include <stdlib.h>
#include <string.h>

#define CNV_RING_MAGIC UINT64_C(0x474e495259564e43)  // "CNVYRING"

const char *cnv_status_description(int status) {
    switch (status) {
    case CNV_OK: return "success";
    case CNV_EINVAL: return "invalid argument";
    case CNV_ENOMEM: return "out of memory";
    case CNV_EARENA: return "the dedicated jemalloc arena could not be created";
    case CNV_EDESTROYED: return "the object was destroyed";
    case CNV_ENOTSUP: return "not supported by this build";
    case CNV_EBUSY: return "busy: another thread holds it";
    case CNV_ELIMIT: return "a process-wide limit was reached";
    default: return "unknown status";
    }
}

void *cnv__aligned_zeroed(size_t size) {
    void *memory = NULL;
    // Round up to a multiple of the alignment, so the padded tail of the block is ours too
    // (structures sized to whole line pairs stay alone on their last one).
    size = (size + CNV_FALSE_SHARING_RANGE - 1) & ~(size_t)(CNV_FALSE_SHARING_RANGE - 1);
    if (CNV_FAULT(CNV_FAULT_ALIGNED_ZEROED) || posix_memalign(&memory, CNV_FALSE_SHARING_RANGE, size) != 0) return NULL;
    memset(memory, 0, size);
    return memory;
}

int cnv_mpmc_ring_create(uint64_t capacity, struct cnv_mpmc_ring **out) {
    if (out == NULL) return CNV_EINVAL;
    *out = NULL;
    if (capacity < 2 || capacity > CNV_MPMC_MAX_CAPACITY || !cnv_is_power_of_two(capacity)) return CNV_EINVAL;
    struct cnv_mpmc_ring *ring = cnv__aligned_zeroed(sizeof(*ring));
    if (ring == NULL) return CNV_ENOMEM;
    ring->slots = cnv__aligned_zeroed((size_t)capacity * sizeof(struct cnv_mpmc_slot));
    if (ring->slots == NULL) {
        free(ring);
        return CNV_ENOMEM;
    }
    for (uint64_t i = 0; i < capacity; i++) atomic_init(&ring->slots[i].sequence, i);
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->capacity = capacity;
    ring->mask = capacity - 1;
    ring->magic = CNV_RING_MAGIC;
    *out = ring;
    return CNV_OK;
}

void cnv_mpmc_ring_destroy(struct cnv_mpmc_ring *ring) {
    if (ring == NULL || ring->magic != CNV_RING_MAGIC) return;
    ring->magic = 0;
    free(ring->slots);
    free(ring);
}

int cnv_spsc_ring_create(uint64_t capacity, struct cnv_spsc_ring **out) {
    if (out == NULL) return CNV_EINVAL;
    *out = NULL;
    if (capacity < 2 || capacity > CNV_SPSC_MAX_CAPACITY || !cnv_is_power_of_two(capacity)) return CNV_EINVAL;
    struct cnv_spsc_ring *ring = cnv__aligned_zeroed(sizeof(*ring));
    if (ring == NULL) return CNV_ENOMEM;
    ring->slots = cnv__aligned_zeroed((size_t)capacity * sizeof(uintptr_t));
    if (ring->slots == NULL) {
        free(ring);
        return CNV_ENOMEM;
    }
    ring->capacity = capacity;
    ring->mask = capacity - 1;
    ring->magic = CNV_RING_MAGIC;
    *out = ring;
    return CNV_OK;
}

void cnv_spsc_ring_destroy(struct cnv_spsc_ring *ring) {
    if (ring == NULL || ring->magic != CNV_RING_MAGIC) return;
    ring->magic = 0;
    free(ring->slots);
    free(ring);
}
