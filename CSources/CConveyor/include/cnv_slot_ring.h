// Bounded multi-producer / multi-consumer ring whose slots ARE task records.
//
// The engine's lanes today hold pointers to 112-byte records from a slab pool: the submitter
// allocates a record, fills it, enqueues its address; the worker dequeues the address, runs
// the record and frees it back into the pool. Each task then moves the ring slot, the
// record's two lines and the pool's free-list state between cores. Here the record lives in
// the ring itself (Disruptor style, with Dmitry Vyukov's per-slot sequence numbers): a
// producer *claims* a slot, writes the task in place and *publishes* it; a consumer *takes*
// the next published slot (or a burst of them), runs it in place and *releases* it. Nothing
// is allocated or freed per task, and a task costs the transfer of its slot's two lines.
//
// Each slot's `sequence` says what the slot holds relative to a position `p` that maps to it
// (the same protocol as cnv_mpmc_ring.h):
//   sequence == p        free for the producer that claims position p
//   sequence == p + 1    published: holds the task of position p, ready for its consumer
//   sequence == p + cap  released by the consumer of p: free for position p + cap
// Between claim and publish the slot belongs to its producer (sequence stays p); between
// take and release it belongs to its consumer (sequence stays p + 1). Positions are 64-bit;
// all comparisons are on differences (positions stay below 2^63, the CLOSED bit; see below).
//
// Shutdown (issue 10): the top bit of `tail` is CLOSED. `cnv_slot_ring_close` sets it with
// one fetch-or; from then on every claim fails (its CAS expects a tail without the bit, so a
// claim racing the fetch-or either lands before it, inside the closed range, or fails and sees
// the bit). The closer then waits until every position below the closed tail is published
// (`cnv_slot_ring_wait_published`). Positions therefore live in 63 bits: at 10^9 claims a
// second a ring would reach 2^63 after 292 years.
//
// Progress: no locks, no waiting inside any call. A producer preempted between claim and
// publish holds up only the consumers of that slot and of the slots after it (they see the
// ring as empty from there; they return, they never spin); a consumer preempted between take
// and release holds up only producers that reach that slot a lap later (they see the ring as
// full). Both stall *delivery*, never a call, and the engine's shutdown counts on it: every
// claimed slot is published by the thread that claimed it, without waiting for anyone.
//
// The `record` of a slot is a `struct cnv_task_record` exactly as a slab record, so code
// that runs a record (the state-word CAS, the handler, the payload) runs a slot's record
// unchanged; and a slot is reused only after its consumer released it, which is what keeps a
// ticket's generation check sound for tasks that live in slots.
#ifndef CNV_SLOT_RING_H
#define CNV_SLOT_RING_H

#include "cnv_common.h"
#include "cnv_task.h"

#ifdef __cplusplus
extern "C" {
#endif

/// One slot: 128 bytes, two cache lines, allocated at 128-byte alignment (one prefetch pair).
/// Line 0: the sequence word and the record's header (state, timestamps, handler, flags);
/// line 1: the 64-byte inline payload. The sequence is a plain word accessed only through the
/// atomic builtins (so Swift can import the struct and address its record).
struct cnv_slot {
    uint64_t sequence;
    /// Spelled-out padding up to the record's 16-byte alignment.
    uint8_t padding[8];
    struct cnv_task_record record;
};

_Static_assert(sizeof(struct cnv_slot) == 128, "cnv_slot: two cache lines");
_Static_assert(_Alignof(struct cnv_slot) == 16, "cnv_slot: 16-byte aligned like a record");
_Static_assert(offsetof(struct cnv_slot, record) == 16, "cnv_slot: record after sequence + padding");
_Static_assert(offsetof(struct cnv_slot, record) + offsetof(struct cnv_task_record, payload) == 64,
               "cnv_slot: the payload is exactly the second cache line");

struct cnv_slot_ring {
    /// Next position to claim; written by producers only.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t tail;
    /// Next position to take; written by consumers only.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t head;
    /// Read-only after creation, so every thread can keep this line in its cache.
    _Alignas(CNV_FALSE_SHARING_RANGE) uint64_t mask;
    uint64_t capacity;
    uint64_t magic;
    struct cnv_slot *slots;
};

_Static_assert(offsetof(struct cnv_slot_ring, head) - offsetof(struct cnv_slot_ring, tail) ==
                   CNV_FALSE_SHARING_RANGE,
               "cnv_slot_ring: tail alone on its line pair");
_Static_assert(offsetof(struct cnv_slot_ring, mask) - offsetof(struct cnv_slot_ring, head) ==
                   CNV_FALSE_SHARING_RANGE,
               "cnv_slot_ring: head alone on its line pair");
_Static_assert(_Alignof(struct cnv_slot_ring) == CNV_FALSE_SHARING_RANGE &&
                   sizeof(struct cnv_slot_ring) == 3 * CNV_FALSE_SHARING_RANGE,
               "cnv_slot_ring: three line pairs, the read-only fields fit in the third");

/// The CLOSED bit of `tail` (see the header comment): set once by cnv_slot_ring_close.
#define CNV_SLOT_RING_CLOSED (UINT64_C(1) << 63)

/// Largest capacity accepted (2^24 slots = 2 GiB of slots; the engine caps rings far lower).
#define CNV_SLOT_RING_MAX_CAPACITY 16777216ULL  // 2^24

/// Creates a ring of `capacity` slots (a power of two from 2 to CNV_SLOT_RING_MAX_CAPACITY),
/// its slots zeroed (every record's state word at generation 0). Returns CNV_OK and stores the
/// ring in `*out`, or CNV_EINVAL / CNV_ENOMEM (then `*out` is NULL).
int cnv_slot_ring_create(uint64_t capacity, struct cnv_slot_ring **out);
/// Destroys a ring. No other thread may use it any more, and no slot may be claimed or taken.
void cnv_slot_ring_destroy(struct cnv_slot_ring *ring);

static inline uint64_t cnv_slot_ring_capacity(const struct cnv_slot_ring *ring) {
    return ring->capacity;
}

/// The slot that position `position` maps to (for the slots of a burst: `first + i`).
static inline struct cnv_slot *cnv_slot_ring_at(struct cnv_slot_ring *ring, uint64_t position) {
    return &ring->slots[position & ring->mask];
}

/// The record of a slot (what the engine fills and runs).
static inline struct cnv_task_record *cnv_slot_record(struct cnv_slot *slot) {
    return &slot->record;
}

/// Claims up to `count` consecutive slots (`exact`: all of them or none) with one CAS on the
/// tail; stores the first claimed position in `*first` and returns how many were claimed.
static inline size_t cnv_slot_ring__claim(struct cnv_slot_ring *ring, size_t count, bool exact,
                                          uint64_t *first) {
    if (count == 0) return 0;
    if (count > ring->capacity) {
        if (exact) return 0;
        count = (size_t)ring->capacity;
    }
    // Read-only after creation: loaded once (the atomic loads below would make the compiler
    // reload them on every slot).
    const uint64_t mask = ring->mask;
    struct cnv_slot *const slots = ring->slots;
    // Relaxed: the position is only a guess; the slot sequences and the CAS decide.
    uint64_t position = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    for (;;) {
        // Closed: no claim any more. Seeing the bit late is harmless: the CAS below expects
        // `position` without it, so it fails against a closed tail and we come back here.
        if (CNV_UNLIKELY(position & CNV_SLOT_RING_CLOSED)) return 0;
        size_t free_slots = 0;
        uint64_t sequence = 0;
        for (; free_slots < count; free_slots++) {
            // Acquire pairs with the consumer's release of this slot: everything it did with
            // the previous task of the slot (running it, reading its record) happens before
            // we overwrite the record.
            sequence = __atomic_load_n(&slots[(position + free_slots) & mask].sequence, __ATOMIC_ACQUIRE);
            if (sequence != position + free_slots) break;
        }
        if (free_slots < count) {
            int64_t lag = (int64_t)(sequence - (position + free_slots));
            if (lag > 0) {
                // Another producer already claimed this position: our tail was stale.
                position = atomic_load_explicit(&ring->tail, memory_order_relaxed);
                continue;
            }
            // lag < 0: the slot still holds (or runs) the task of the previous lap: full there.
            if (free_slots == 0 || exact) return 0;
        }
        // Relaxed CAS: it only arbitrates which producer owns [position, position + n), and
        // against the closer's fetch-or: both are read-modify-writes of `tail`, so in its
        // modification order this claim is either before the fetch-or (inside the range the
        // closer waits for) or after it (then it expected a value without CLOSED and failed).
        // No other ordering is needed. The records' contents are carried to consumers by each
        // slot's release in publish.
        if (atomic_compare_exchange_weak_explicit(&ring->tail, &position, position + free_slots,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *first = position;
            return free_slots;
        }
        // CAS failure reloaded `position`; scan again from there.
    }
}

/// Claims one slot for a new task, or returns NULL when the ring is full at the tail or closed
/// (`cnv_slot_ring_is_closed` tells which, after the fact). The
/// caller owns the slot until it publishes it and must publish it (promptly: consumers of
/// later slots wait for it); fill `slot->record` in between.
static inline struct cnv_slot *cnv_slot_ring_claim(struct cnv_slot_ring *ring) {
    uint64_t first = 0;
    return cnv_slot_ring__claim(ring, 1, true, &first) == 1 ? cnv_slot_ring_at(ring, first) : NULL;
}

/// Claims as many of `count` consecutive slots as are free (one CAS; none once closed); the slots are
/// `cnv_slot_ring_at(ring, *first + i)` for i < the returned count. Each must be published.
static inline size_t cnv_slot_ring_claim_burst(struct cnv_slot_ring *ring, size_t count, uint64_t *first) {
    return cnv_slot_ring__claim(ring, count, false, first);
}

/// Makes a claimed slot's task visible to consumers. Slots of a burst may be published in
/// any order; consumers take them in position order.
static inline void cnv_slot_publish(struct cnv_slot *slot) {
    // Relaxed load: the slot is ours since the claim, its sequence is our position p and only
    // we change it now. Release store: every write to the record happens before a consumer's
    // acquire of p + 1.
    uint64_t position = __atomic_load_n(&slot->sequence, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->sequence, position + 1, __ATOMIC_RELEASE);
}

/// Takes up to `count` consecutive published slots (`exact`: all or none) with one CAS on the
/// head; stores the first position in `*first` and returns how many.
static inline size_t cnv_slot_ring__take(struct cnv_slot_ring *ring, size_t count, bool exact, uint64_t *first) {
    if (count == 0) return 0;
    if (count > ring->capacity) {
        if (exact) return 0;
        count = (size_t)ring->capacity;
    }
    const uint64_t mask = ring->mask;  // read-only after creation: loaded once
    struct cnv_slot *const slots = ring->slots;
    uint64_t position = atomic_load_explicit(&ring->head, memory_order_relaxed);
    for (;;) {
        size_t ready = 0;
        uint64_t sequence = 0;
        for (; ready < count; ready++) {
            // Acquire pairs with the producer's release in publish: the record is visible.
            sequence = __atomic_load_n(&slots[(position + ready) & mask].sequence, __ATOMIC_ACQUIRE);
            if (sequence != position + ready + 1) break;
        }
        if (ready < count) {
            int64_t lag = (int64_t)(sequence - (position + ready + 1));
            if (lag > 0) {
                // Another consumer took this position already: our head was stale.
                position = atomic_load_explicit(&ring->head, memory_order_relaxed);
                continue;
            }
            // lag < 0: not yet published (empty, or a producer is between claim and publish).
            if (ready == 0 || exact) return 0;
        }
        // If the CAS succeeds, head was still `position`: no other consumer took these slots,
        // and no producer can claim them again before we release them (their sequences stay
        // p + 1 until then). Relaxed: the acquire loads above already made the records visible.
        if (atomic_compare_exchange_weak_explicit(&ring->head, &position, position + ready,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *first = position;
            return ready;
        }
    }
}

/// Takes the next published slot, or returns NULL when there is none. The caller owns it
/// (runs its record in place) until it releases it.
static inline struct cnv_slot *cnv_slot_ring_take(struct cnv_slot_ring *ring) {
    uint64_t first = 0;
    return cnv_slot_ring__take(ring, 1, true, &first) == 1 ? cnv_slot_ring_at(ring, first) : NULL;
}

/// Takes up to `count` consecutive published slots (one CAS): `cnv_slot_ring_at(ring,
/// *first + i)` for i < the returned count. Each must be released.
static inline size_t cnv_slot_ring_take_burst(struct cnv_slot_ring *ring, size_t count, uint64_t *first) {
    return cnv_slot_ring__take(ring, count, false, first);
}

/// Gives a taken slot back for a producer a lap later. Slots of a burst may be released in
/// any order (a producer reuses them in position order). After this the caller must not
/// touch the slot: a producer may be rewriting it.
static inline void cnv_slot_release(struct cnv_slot_ring *ring, struct cnv_slot *slot) {
    // Relaxed load: the slot is ours since the take; its sequence is p + 1 and only we change
    // it now. Release store: our reads and writes of the record (running the task, settling
    // its state word) happen before the next producer's acquire of p + capacity.
    uint64_t published = __atomic_load_n(&slot->sequence, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->sequence, published - 1 + ring->capacity, __ATOMIC_RELEASE);
}

/// Number of claimed-and-not-yet-taken positions (published or not): exact when the ring is
/// quiescent, a snapshot otherwise (the same reasoning as cnv_mpmc_ring_count: head is loaded
/// first, with acquire so that the tail load stays after it; the clamp turns a wrapped
/// difference into the capacity).
static inline uint64_t cnv_slot_ring_count(struct cnv_slot_ring *ring) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed) & ~CNV_SLOT_RING_CLOSED;
    uint64_t count = tail - head;
    return count > ring->capacity ? ring->capacity : count;
}

/// Whether the slot at the head may be published: a consumer-side emptiness test reading the
/// head and one slot, not the producers' tail line. False means the slot at the head was not
/// published at some moment during the call; true means it was, or that another consumer moved
/// past `head` meanwhile (the take that follows finds out). Relaxed: a snapshot; a take
/// synchronizes through the slot's sequence as always.
static inline bool cnv_slot_ring_may_have_entries(struct cnv_slot_ring *ring) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t sequence = __atomic_load_n(&ring->slots[head & ring->mask].sequence, __ATOMIC_RELAXED);
    return (int64_t)(sequence - (head + 1)) >= 0;
}

// MARK: Closing (the engine's shutdown)

/// Whether the ring is closed. A claim that returned nothing and then sees this true was
/// refused because of the close or at least raced with it; either way the submit reports
/// "shut down". Acquire: pairs with nothing the caller reads, but keeps this check after the
/// failed claim it explains.
static inline bool cnv_slot_ring_is_closed(struct cnv_slot_ring *ring) {
    return (atomic_load_explicit(&ring->tail, memory_order_acquire) & CNV_SLOT_RING_CLOSED) != 0;
}

/// Sets the CLOSED bit (idempotent) and returns the closed tail: every position below it was
/// claimed before the close, none at or above it ever will be.
uint64_t cnv_slot_ring_close(struct cnv_slot_ring *ring);

/// Waits until every position below `closed_tail` (from cnv_slot_ring_close) is published.
/// Ends: a claimed slot is published by its claimer without waiting for anyone. Spins
/// briefly, then yields, then sleeps 20 µs between scans. Returns the number of scans that
/// found a claimed-but-unpublished slot (0 when none was pending; for tests and logs).
uint64_t cnv_slot_ring_wait_published(struct cnv_slot_ring *ring, uint64_t closed_tail);

// MARK: The engine's use: a lane's ring holds in-slot tasks and indirect slots.

/// The slot a record of CNV_TASK_FLAG_IN_SLOT lives in.
static inline struct cnv_slot *cnv_slot_of_record(struct cnv_task_record *record) {
    return (struct cnv_slot *)(void *)((char *)record - offsetof(struct cnv_slot, record));
}

/// Queues a slab record through an indirect slot; false when the ring is full at the tail or
/// closed (`cnv_slot_ring_is_closed` tells which).
static inline bool cnv_slot_ring_push_record(struct cnv_slot_ring *ring, struct cnv_task_record *record) {
    struct cnv_slot *slot = cnv_slot_ring_claim(ring);
    if (slot == NULL) return false;
    // Plain stores: the slot is ours until the publish, whose release carries them.
    slot->record.flags = (uint16_t)CNV_TASK_FLAG_INDIRECT;
    slot->record.handler = record;
    cnv_slot_publish(slot);
    return true;
}

/// Takes up to `count` published slots (one CAS) into `out` as record addresses: for an
/// indirect slot the slab record it carries (the slot is released here at once), for an
/// in-slot task the slot's own record, which the caller releases with
/// `cnv_slot_ring_release_record` once the task is settled. Returns how many.
static inline size_t cnv_slot_ring_take_records(struct cnv_slot_ring *ring, uintptr_t *out, size_t count) {
    uint64_t first = 0;
    size_t taken = cnv_slot_ring_take_burst(ring, count, &first);
    // Read-only after creation: loaded once, not per slot (the release stores below and the
    // stores to `out` would otherwise make the compiler reload them).
    const uint64_t mask = ring->mask;
    struct cnv_slot *const slots = ring->slots;
    for (size_t i = 0; i < taken; i++) {
        struct cnv_slot *slot = &slots[(first + i) & mask];
        if (slot->record.flags & CNV_TASK_FLAG_INDIRECT) {
            out[i] = (uintptr_t)slot->record.handler;
            cnv_slot_release(ring, slot);
        } else {
            out[i] = (uintptr_t)&slot->record;
        }
    }
    return taken;
}

/// Releases the slot of a settled in-slot task (`record` from cnv_slot_ring_take_records).
static inline void cnv_slot_ring_release_record(struct cnv_slot_ring *ring, struct cnv_task_record *record) {
    cnv_slot_release(ring, cnv_slot_of_record(record));
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_SLOT_RING_H
