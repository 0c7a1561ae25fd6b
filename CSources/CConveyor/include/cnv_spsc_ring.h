// Bounded single-producer / single-consumer ring of word-sized entries, for stage-to-stage
// links. After rigtorp/SPSCQueue: each side keeps a cached copy of the other side's index on
// its own cache line and reloads the shared index only when the cached one says full
// (producer) or empty (consumer), so in steady state each side touches one shared line
// per bulk operation.
#ifndef CNV_SPSC_RING_H
#define CNV_SPSC_RING_H

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cnv_spsc_ring {
    /// Producer's line: next position to write, and its view of the consumer's position.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t tail;
    uint64_t cached_head;
    /// Consumer's line: next position to read, and its view of the producer's position.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t head;
    uint64_t cached_tail;
    /// Read-only after creation.
    _Alignas(CNV_FALSE_SHARING_RANGE) uint64_t mask;
    uint64_t capacity;
    uint64_t magic;
    uintptr_t *slots;
};

// The producer's line pair (tail, its cached head), the consumer's (head, its cached tail)
// and the read-only fields each own CNV_FALSE_SHARING_RANGE bytes, as rigtorp/SPSCQueue pads
// its indices; the ring is allocated at that alignment (cnv__aligned_zeroed).
_Static_assert(offsetof(struct cnv_spsc_ring, head) - offsetof(struct cnv_spsc_ring, tail) ==
                   CNV_FALSE_SHARING_RANGE,
               "cnv_spsc_ring: producer's fields alone on their line pair");
_Static_assert(offsetof(struct cnv_spsc_ring, mask) - offsetof(struct cnv_spsc_ring, head) ==
                   CNV_FALSE_SHARING_RANGE,
               "cnv_spsc_ring: consumer's fields alone on their line pair");
_Static_assert(_Alignof(struct cnv_spsc_ring) == CNV_FALSE_SHARING_RANGE &&
                   sizeof(struct cnv_spsc_ring) == 3 * CNV_FALSE_SHARING_RANGE,
               "cnv_spsc_ring: three line pairs, the read-only fields fit in the third");

#define CNV_SPSC_MAX_CAPACITY 2147483648ULL // 2^31

/// Creates a ring. `capacity` must be a power of two between 2 and CNV_SPSC_MAX_CAPACITY.
int cnv_spsc_ring_create(uint64_t capacity, struct cnv_spsc_ring **out);
void cnv_spsc_ring_destroy(struct cnv_spsc_ring *ring);

static inline uint64_t cnv_spsc_ring_capacity(const struct cnv_spsc_ring *ring) {
    return ring->capacity;
}

/// Number of entries (a snapshot when the other side is active).
static inline uint64_t cnv_spsc_ring_count(struct cnv_spsc_ring *ring) {
    // Either side may ask. Acquire on head pairs with the consumer's release store of head
    // (the slots below it are read and may be refilled) and keeps the tail load after it,
    // so tail - head never goes negative (the producer moved tail past every position the
    // consumer moved head past). Acquire on tail pairs with the producer's release store of
    // tail: a consumer that sees count > 0 also sees the values of those slots.
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return tail - head;
}

/// Producer only. Enqueues up to `count` values (`exact`: all or none); returns how many.
static inline size_t cnv_spsc__enqueue(struct cnv_spsc_ring *ring, const uintptr_t *values,
                                       size_t count, bool exact) {
    // Relaxed: only this thread writes tail.
    const uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t free_slots = ring->capacity - (tail - ring->cached_head);
    if (free_slots < count) {
        // Acquire pairs with the consumer's release of head: its reads of those slots are
        // done before we overwrite them.
        ring->cached_head = atomic_load_explicit(&ring->head, memory_order_acquire);
        free_slots = ring->capacity - (tail - ring->cached_head);
        if (free_slots < count) {
            if (exact || free_slots == 0) return 0;
            count = (size_t)free_slots;
        }
    }
    const uint64_t mask = ring->mask;
    for (size_t i = 0; i < count; i++) ring->slots[(tail + i) & mask] = values[i];
    // Release publishes the values written above together with the new tail.
    atomic_store_explicit(&ring->tail, tail + count, memory_order_release);
    return count;
}

/// Consumer only. Dequeues up to `count` values (`exact`: all or none); returns how many.
static inline size_t cnv_spsc__dequeue(struct cnv_spsc_ring *ring, uintptr_t *values,
                                       size_t count, bool exact) {
    const uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t ready = ring->cached_tail - head;
    if (ready < count) {
        // Acquire pairs with the producer's release of tail: the values are visible.
        ring->cached_tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
        ready = ring->cached_tail - head;
        if (ready < count) {
            if (exact || ready == 0) return 0;
            count = (size_t)ready;
        }
    }
    const uint64_t mask = ring->mask;
    for (size_t i = 0; i < count; i++) values[i] = ring->slots[(head + i) & mask];
    // Release: our reads happen before the producer reuses these slots.
    atomic_store_explicit(&ring->head, head + count, memory_order_release);
    return count;
}

static inline bool cnv_spsc_try_enqueue(struct cnv_spsc_ring *ring, uintptr_t value) {
    return cnv_spsc__enqueue(ring, &value, 1, true) == 1;
}
static inline bool cnv_spsc_try_dequeue(struct cnv_spsc_ring *ring, uintptr_t *value) {
    return cnv_spsc__dequeue(ring, value, 1, true) == 1;
}
static inline size_t cnv_spsc_enqueue_burst(struct cnv_spsc_ring *ring, const uintptr_t *values,
                                            size_t count) {
    return cnv_spsc__enqueue(ring, values, count, false);
}
static inline size_t cnv_spsc_enqueue_bulk(struct cnv_spsc_ring *ring, const uintptr_t *values,
                                           size_t count) {
    return cnv_spsc__enqueue(ring, values, count, true);
}
static inline size_t cnv_spsc_dequeue_burst(struct cnv_spsc_ring *ring, uintptr_t *values,
                                            size_t count) {
    return cnv_spsc__dequeue(ring, values, count, false);
}
static inline size_t cnv_spsc_dequeue_bulk(struct cnv_spsc_ring *ring, uintptr_t *values,
                                           size_t count) {
    return cnv_spsc__dequeue(ring, values, count, true);
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_SPSC_RING_H
