// Bounded multi-producer / multi-consumer ring of word-sized entries.
//
// Design: Dmitry Vyukov's bounded MPMC queue (a sequence number per slot) extended with
// DPDK rte_ring style bulk operations: a bulk op first scans the slots it wants, then claims
// all of them with ONE compare-and-swap on the shared position.
//
// Each slot's `sequence` says what the slot holds relative to a position `p` that maps to it:
//   sequence == p       the slot is free for the producer of position p
//   sequence == p + 1   the slot holds the value of position p, ready for its consumer
//   sequence == p + cap the consumer of p is done; the slot is free for position p + cap
// Positions are 64-bit and never wrap in practice (2^64 operations), so there is no ABA.
//
// Progress: no locks. A producer or consumer preempted between its CAS and its publish
// delays only the consumers (producers) of those very slots; others see them as
// empty (full) and return, they never wait.
#ifndef CNV_MPMC_RING_H
#define CNV_MPMC_RING_H

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cnv_mpmc_slot {
    _Atomic uint64_t sequence;
    uintptr_t value;
};

struct cnv_mpmc_ring {
    /// Next position to enqueue; written by producers only.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t tail;
    /// Next position to dequeue; written by consumers only.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t head;
    /// Read-only after creation, so every thread can keep this line in its cache.
    _Alignas(CNV_FALSE_SHARING_RANGE) uint64_t mask;
    uint64_t capacity;
    uint64_t magic;
    struct cnv_mpmc_slot *slots;
};

// Layouts the ring is built on and Swift relies on (checked as rigtorp/SPSCQueue checks its
// own): a slot is its sequence and value with no padding (Swift sizes the ring's memory with
// MemoryLayout<cnv_mpmc_slot>.stride); producers' tail, consumers' head and the read-only
// fields each own a CNV_FALSE_SHARING_RANGE line pair, and the ring is allocated at that
// alignment (cnv__aligned_zeroed).
_Static_assert(sizeof(struct cnv_mpmc_slot) == 16 && _Alignof(struct cnv_mpmc_slot) == 8,
               "cnv_mpmc_slot: sequence + value, no padding");
_Static_assert(offsetof(struct cnv_mpmc_ring, head) - offsetof(struct cnv_mpmc_ring, tail) ==
                   CNV_FALSE_SHARING_RANGE,
               "cnv_mpmc_ring: tail alone on its line pair");
_Static_assert(offsetof(struct cnv_mpmc_ring, mask) - offsetof(struct cnv_mpmc_ring, head) ==
                   CNV_FALSE_SHARING_RANGE,
               "cnv_mpmc_ring: head alone on its line pair");
_Static_assert(_Alignof(struct cnv_mpmc_ring) == CNV_FALSE_SHARING_RANGE &&
                   sizeof(struct cnv_mpmc_ring) == 3 * CNV_FALSE_SHARING_RANGE,
               "cnv_mpmc_ring: three line pairs, the read-only fields fit in the third");

/// Largest capacity accepted (2^30 slots, 16 GiB of slots).
#define CNV_MPMC_MAX_CAPACITY 1073741824ULL // 2^30

/// Creates a ring. `capacity` must be a power of two between 2 and CNV_MPMC_MAX_CAPACITY.
/// Returns CNV_OK and stores the ring in `*out`, or CNV_EINVAL / CNV_ENOMEM.
int cnv_mpmc_ring_create(uint64_t capacity, struct cnv_mpmc_ring **out);
/// Destroys a ring. No other thread may use it any more.
void cnv_mpmc_ring_destroy(struct cnv_mpmc_ring *ring);

static inline uint64_t cnv_mpmc_ring_capacity(const struct cnv_mpmc_ring *ring) {
    return ring->capacity;
}

/// Number of entries, exact when the ring is quiescent, a snapshot otherwise.
static inline uint64_t cnv_mpmc_ring_count(struct cnv_mpmc_ring *ring) {
    // Load head first: both only grow, and a consumer moves head past a position only after a
    // producer moved tail past it, so tail - head overestimates rather than going negative
    // when head is read first. Acquire on head is what keeps the tail load after it (an
    // acquire load is not reordered with the loads that follow). It orders the loads only:
    // head and tail move by relaxed CASes, so it synchronizes with nothing, and the C11 model
    // does not promise tail >= head here; x86 (TSO) and ARMv8 (multi-copy atomic) do. The
    // clamp below turns a wrapped difference into the capacity. The tail load is the last
    // access, so relaxed is enough for it: a caller that acts on the count (dequeues) gets the
    // values' visibility from the slots' sequence numbers, not from this.
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t count = tail - head;
    return count > ring->capacity ? ring->capacity : count;
}

/// Whether the entry at the head may be ready: a consumer-side emptiness test that reads the
/// head and one slot, not the producers' `tail` line (which `cnv_mpmc_ring_count` reads, and
/// which a busy producer keeps in its own cache, so reading it costs a cross-core transfer).
/// False means the ring was empty at some moment during the call (the slot at the head was
/// not yet published); true means it was not, or that another consumer moved past `head`
/// meanwhile (a stale head: the caller's dequeue then finds out). Relaxed: a snapshot; a
/// dequeue that follows synchronizes through the slot's sequence as always.
static inline bool cnv_mpmc_ring_may_have_entries(struct cnv_mpmc_ring *ring) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t sequence = atomic_load_explicit(&ring->slots[head & ring->mask].sequence, memory_order_relaxed);
    // sequence == head + 1: published; greater: head was stale; smaller: not yet published.
    return (int64_t)(sequence - (head + 1)) >= 0;
}

/// Enqueues up to `count` values (`exact`: all of them or none). Returns how many.
static inline size_t cnv_mpmc__enqueue(struct cnv_mpmc_ring *ring, const uintptr_t *values,
                                       size_t count, bool exact) {
    if (count == 0) return 0;
    if (count > ring->capacity) {
        if (exact) return 0;
        count = (size_t)ring->capacity;
    }
    const uint64_t mask = ring->mask;
    // Relaxed: the position is only a guess; the slot sequences and the CAS decide.
    uint64_t position = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    for (;;) {
        size_t free_slots = 0;
        uint64_t sequence = 0;
        for (; free_slots < count; free_slots++) {
            // Acquire pairs with the consumer's release of this slot: its read of the old
            // value happens before we overwrite it.
            sequence = atomic_load_explicit(&ring->slots[(position + free_slots) & mask].sequence,
                                            memory_order_acquire);
            if (sequence != position + free_slots) break;
        }
        if (free_slots < count) {
            int64_t lag = (int64_t)(sequence - (position + free_slots));
            if (lag > 0) {
                // Another producer already used this position: our tail was stale.
                position = atomic_load_explicit(&ring->tail, memory_order_relaxed);
                continue;
            }
            // lag < 0: the slot still holds a value from the previous lap, so the ring is full there.
            if (free_slots == 0 || exact) return 0;
        }
        // Relaxed CAS: it only arbitrates which producer owns [position, position + n).
        // Visibility of the values is carried by each slot's release store below.
        if (atomic_compare_exchange_weak_explicit(&ring->tail, &position, position + free_slots,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            for (size_t i = 0; i < free_slots; i++) {
                struct cnv_mpmc_slot *slot = &ring->slots[(position + i) & mask];
                slot->value = values[i];
                // Release publishes the value to the consumer that acquires this sequence.
                atomic_store_explicit(&slot->sequence, position + i + 1, memory_order_release);
            }
            return free_slots;
        }
        // CAS failure reloaded `position`; scan again from there.
    }
}

/// Dequeues up to `count` values into `values` (`exact`: all of them or none). Returns how many.
static inline size_t cnv_mpmc__dequeue(struct cnv_mpmc_ring *ring, uintptr_t *values,
                                       size_t count, bool exact) {
    if (count == 0) return 0;
    if (count > ring->capacity) {
        if (exact) return 0;
        count = (size_t)ring->capacity;
    }
    const uint64_t mask = ring->mask;
    const uint64_t capacity = ring->capacity;
    uint64_t position = atomic_load_explicit(&ring->head, memory_order_relaxed);
    for (;;) {
        size_t ready = 0;
        uint64_t sequence = 0;
        for (; ready < count; ready++) {
            // Acquire pairs with the producer's release: the value is visible once we see it.
            sequence = atomic_load_explicit(&ring->slots[(position + ready) & mask].sequence,
                                            memory_order_acquire);
            if (sequence != position + ready + 1) break;
        }
        if (ready < count) {
            int64_t lag = (int64_t)(sequence - (position + ready + 1));
            if (lag > 0) {
                // Another consumer took this position already: our head was stale.
                position = atomic_load_explicit(&ring->head, memory_order_relaxed);
                continue;
            }
            // lag < 0: not yet published (empty, or a producer is between CAS and publish).
            if (ready == 0 || exact) return 0;
        }
        // If the CAS succeeds, head was still `position`, so no other consumer took these
        // slots and no producer can refill them before we release them.
        if (atomic_compare_exchange_weak_explicit(&ring->head, &position, position + ready,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            for (size_t i = 0; i < ready; i++) {
                struct cnv_mpmc_slot *slot = &ring->slots[(position + i) & mask];
                values[i] = slot->value;
                // Release: our read of the value happens before the next producer's write.
                atomic_store_explicit(&slot->sequence, position + i + capacity, memory_order_release);
            }
            return ready;
        }
    }
}

/// Enqueues one value. Returns false when the ring is full.
static inline bool cnv_mpmc_try_enqueue(struct cnv_mpmc_ring *ring, uintptr_t value) {
    return cnv_mpmc__enqueue(ring, &value, 1, true) == 1;
}

/// Dequeues one value into `*value`. Returns false when the ring is empty.
static inline bool cnv_mpmc_try_dequeue(struct cnv_mpmc_ring *ring, uintptr_t *value) {
    return cnv_mpmc__dequeue(ring, value, 1, true) == 1;
}

/// Enqueues as many of `count` values as fit (one CAS); returns how many.
static inline size_t cnv_mpmc_enqueue_burst(struct cnv_mpmc_ring *ring, const uintptr_t *values,
                                            size_t count) {
    return cnv_mpmc__enqueue(ring, values, count, false);
}

/// Enqueues all `count` values or none (one CAS); returns `count` or 0.
static inline size_t cnv_mpmc_enqueue_bulk(struct cnv_mpmc_ring *ring, const uintptr_t *values,
                                           size_t count) {
    return cnv_mpmc__enqueue(ring, values, count, true);
}

/// Dequeues up to `count` values (one CAS); returns how many.
static inline size_t cnv_mpmc_dequeue_burst(struct cnv_mpmc_ring *ring, uintptr_t *values,
                                            size_t count) {
    return cnv_mpmc__dequeue(ring, values, count, false);
}

/// Dequeues exactly `count` values or none (one CAS); returns `count` or 0.
static inline size_t cnv_mpmc_dequeue_bulk(struct cnv_mpmc_ring *ring, uintptr_t *values,
                                           size_t count) {
    return cnv_mpmc__dequeue(ring, values, count, true);
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_MPMC_RING_H
