// Conveyor C core: the ResultCache's lock-free read side.
//
// A `cnv_rt_table` mirrors one cache shard's entries for readers that take no lock:
//
// - an open-addressing array of one-word slots, linear probing: each holds an opaque pointer
//   (48 bits) to an immutable Swift object that holds the key, the value and its expiry (the
//   table owns one reference to it) and the top 16 bits of the entry's hash. Only the
//   shard's writer changes it, under the shard's lock; readers probe it with atomic loads.
// - reclamation by userspace RCU, the `urcu-bp` flavour: a reader brackets its probe with
//   `cnv_rcu_read_lock/unlock` (no registration, any thread); an entry removed or replaced by
//   the writer, and an array replaced by a rebuild, are released only after a grace period
//   (`call_rcu`), so a reader never touches freed memory. liburcu is LGPL-2.1: it is linked
//   dynamically and its exported functions are called (`_LGPL_SOURCE` is never defined).
// - per-thread stripes of hit records (Caffeine's read buffer): a hit writes its record (for
//   an entry's first hits, then a random sample) into the calling thread's stripe, a line no
//   other thread writes in the steady state, and the
//   shard's writer applies the records to the eviction policy under its lock ("drain").
//   The buffer is lossy by design: records that a stripe overwrites before a drain are
//   dropped (the policy loses a few recency updates; hit counts stay exact).
//
// The layout is C's (atomics and over-alignment are not importable); Swift sees
// `OpaquePointer`s and calls the static inline accessors below.
#ifndef CNV_READ_TABLE_H
#define CNV_READ_TABLE_H

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Slot words. A slot is one 64-bit word: 0 (empty), 1 (tombstone), or an entry: the
/// entry's address in the low 48 bits (objects are at least 16-byte aligned, so an address is
/// never 0 or 1) and the top 16 bits of its hash (the *tag*) in the high 16. One word per slot
/// halves the read side's footprint against a (hash, pointer) pair — eight slots to a cache
/// line — and a reader's single acquire load sees a tag and an entry that belong together.
#define CNV_RT_EMPTY ((uint64_t)0)
#define CNV_RT_TOMBSTONE ((uint64_t)1)
#define CNV_RT_ADDRESS_BITS 48u
#define CNV_RT_ADDRESS_MASK ((UINT64_C(1) << CNV_RT_ADDRESS_BITS) - 1)
/// The tag of a hash: its top 16 bits (the slot index uses the low bits, the shard bits 40…).
static inline uint64_t cnv_rt_tag_of(uint64_t hash) {
    return hash >> CNV_RT_ADDRESS_BITS;
}
/// Stripes of hit records per table (a power of two); a thread uses stripe `index % stripes`.
#define CNV_RT_STRIPES 8u
/// Records per stripe (a power of two). A hit that finds this many undrained asks for a drain.
#define CNV_RT_RECORDS 16u
#define CNV_RT_DRAIN_AT 12u
/// Hit sampling. A hit on an entry that has left fewer than CNV_RT_EXACT_HITS records leaves
/// one (the caller counts them on the entry), so keys with few hits keep exact frequency and
/// recency information; past that, a hit leaves a record with probability 2^-shift (a
/// xorshift draw per thread, never a fixed stride: a stride aliases with regular access
/// patterns), and the record carries CNV_RT_SAMPLED so that the drain weighs it 2^shift in
/// the frequency sketch. Every hit is counted. `shift` is per table (cnv_rt_create);
/// CNV_RT_DEFAULT_SAMPLE_SHIFT is what ResultCache uses (see docs/Cache.md, "Why sample this way").
#define CNV_RT_DEFAULT_SAMPLE_SHIFT 4u
#define CNV_RT_EXACT_HITS 15u
/// Set on a sampled record (bit 63: slot indices are below 2^31).
#define CNV_RT_SAMPLED (UINT64_C(1) << 63)
/// Retired entries handed to one `call_rcu` callback.
#define CNV_RT_BATCH 64u

/// The slots readers probe, then (writer only, never read by readers) each slot's full hash,
/// which a rebuild needs to place the entry again. Replaced as a whole by a rebuild (never
/// resized in place).
struct cnv_rt_array {
    uint64_t mask;  // capacity - 1; the capacity is a power of two
    uint64_t capacity;
    uint64_t *hashes;  // `capacity` full hashes after the slots (writer only)
    uint64_t header_padding;
    _Atomic uint64_t slots[];
};
_Static_assert(offsetof(struct cnv_rt_array, slots) == 32, "cnv_rt_array: header of four words");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "one word per slot, eight to a cache line");

/// One thread's hit records. `hits` is written by the threads mapped to this stripe (one in
/// the steady state), `drained` by the shard's drainer under the shard lock; the records sit
/// on the two lines after the header and the last line is padding, so the next stripe's
/// header is 128 bytes away from these records (adjacent-line prefetch).
struct cnv_rt_stripe {
    /// Hits counted on this stripe.
    _Atomic uint64_t hits;
    /// Records written on this stripe (record n is at records[n % CNV_RT_RECORDS]).
    _Atomic uint64_t recorded;
    /// Records consumed (or skipped as overwritten) by drains.
    _Atomic uint64_t drained;
    uint8_t header_padding[CNV_CACHE_LINE - 3 * sizeof(uint64_t)];
    /// (slot index << 32) | low 32 bits of the hash, by record number % CNV_RT_RECORDS.
    _Atomic uint64_t records[CNV_RT_RECORDS];
    uint8_t tail_padding[CNV_CACHE_LINE];
};
_Static_assert(sizeof(struct cnv_rt_stripe) == 256, "cnv_rt_stripe: header line, two record lines, a padding line");
_Static_assert(offsetof(struct cnv_rt_stripe, records) == CNV_CACHE_LINE, "records start on the second line");

struct cnv_rt_batch;

struct cnv_rt_table {
    /// The current slots. Readers load it with acquire (pairs with the writer's release
    /// store after a rebuild filled the new array), inside an RCU read-side section.
    _Atomic(struct cnv_rt_array *) array;
    /// 2^shift - 1 for the sampled hits (see CNV_RT_EXACT_HITS); set at creation, read-only.
    uint64_t sample_mask;
    uint8_t reader_padding[CNV_FALSE_SHARING_RANGE - sizeof(void *) - sizeof(uint64_t)];
    // Writer-only fields (under the shard's lock).
    uint64_t live;
    uint64_t tombstones;
    uint64_t minimum_capacity;
    struct cnv_rt_batch *pending;  // retired entries waiting for a full batch
    void (*release)(void *entry);   // drops the table's reference to an entry
    uint8_t writer_padding[CNV_FALSE_SHARING_RANGE - 3 * sizeof(uint64_t) - 2 * sizeof(void *)];
    struct cnv_rt_stripe stripes[CNV_RT_STRIPES];
};
_Static_assert(offsetof(struct cnv_rt_table, live) == CNV_FALSE_SHARING_RANGE, "writer fields 128 bytes from the array pointer");
_Static_assert(offsetof(struct cnv_rt_table, stripes) == 2 * CNV_FALSE_SHARING_RANGE, "stripes after the writer block");

// ---- RCU read side (urcu-bp, called through its exported functions) ----------------------

void urcu_bp_read_lock(void);
void urcu_bp_read_unlock(void);

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CNV_RT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CNV_RT_TSAN 1
#endif
#ifdef CNV_RT_TSAN
// ThreadSanitizer cannot see liburcu's grace periods (liburcu is not instrumented). Each
// read-side section ends with a release on this address and each reclamation callback starts
// with an acquire on it, which is the happens-before edge a grace period provides.
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char cnv_rt_tsan_grace;
#endif

/// Enters an RCU read-side section: entries and arrays seen until the matching unlock stay
/// allocated. Nests. Any thread; liburcu-bp registers the thread on its first use.
static inline void cnv_rcu_read_lock(void) {
    urcu_bp_read_lock();
}

static inline void cnv_rcu_read_unlock(void) {
#ifdef CNV_RT_TSAN
    __tsan_release(&cnv_rt_tsan_grace);
#endif
    urcu_bp_read_unlock();
}

// ---- reader operations (inside cnv_rcu_read_lock) ---------------------------------------

/// The table's current array. Acquire: pairs with the release store that published it, so
/// the slots a rebuild wrote before publishing are visible.
static inline const struct cnv_rt_array *cnv_rt_array_acquire(const struct cnv_rt_table *table) {
    return atomic_load_explicit(&((struct cnv_rt_table *)table)->array, memory_order_acquire);
}

/// Probes from `*cursor` (start it at the hash) for the next entry whose tag is
/// `cnv_rt_tag_of(hash)`; returns its address, or 0 at the first empty slot (the key is not in
/// the table). `*cursor` moves past the returned slot, so a caller whose key check fails
/// calls again.
///
/// The slot is loaded with acquire, pairing with the writer's release store of it: the
/// object's fields (written before it was published) are visible. Tag and address come
/// from one load, so they always belong to the same entry; a tag that matches another
/// key's (16 bits) only makes the caller reject the entry on its full key check.
static inline uintptr_t cnv_rt_next(const struct cnv_rt_array *array, uint64_t hash, uint64_t *cursor) {
    // Non-const for atomic_load_explicit (the slots are only loaded here). A pointer to the
    // array, not to its atomic elements: Swift's importer cannot name `_Atomic` types.
    struct cnv_rt_array *slots = (struct cnv_rt_array *)array;
    uint64_t tag = cnv_rt_tag_of(hash);
    uint64_t index = *cursor & array->mask;
    for (;;) {
        uint64_t word = atomic_load_explicit(&slots->slots[index], memory_order_acquire);
        if (word == CNV_RT_EMPTY) {
            *cursor = index;
            return 0;
        }
        index = (index + 1) & array->mask;
        if (word != CNV_RT_TOMBSTONE && (word >> CNV_RT_ADDRESS_BITS) == tag) {
            *cursor = index;
            return (uintptr_t)(word & CNV_RT_ADDRESS_MASK);
        }
    }
}

/// The calling thread's stripe number + 1 (0 until assigned) and its xorshift32 state for
/// sampling (never 0 once assigned). Thread-local with the initial-exec model: one
/// %fs-relative access on the hit path, no __tls_get_addr call.
struct cnv_rt_thread {
    uint32_t index;
    uint32_t random;
};
extern _Thread_local struct cnv_rt_thread cnv_rt_self __attribute__((tls_model("initial-exec")));
uint32_t cnv_rt__assign_thread_index(void);

/// Counts a hit on the calling thread's stripe and stores `record` when `exact` (the entry
/// has left fewer than CNV_RT_EXACT_HITS records) or, otherwise, with probability
/// 2^-shift, marked CNV_RT_SAMPLED. Returns true when the stripe holds CNV_RT_DRAIN_AT or
/// more undrained records (the caller should try to drain).
///
/// `hits` is a relaxed fetch-add: the count must be exact even when two threads share a
/// stripe, and nothing is published through it. `recorded` is a relaxed fetch-add for the
/// same reason (two sharers never get one number), and the record a relaxed store: the
/// drainer may read a slot before its store lands and then applies the older record of that
/// slot (a lost recency update, which the lossy buffer allows; a record is only applied
/// when its slot still holds an entry with its hash). `drained` is read relaxed: a stale
/// value only moves the moment a drain is asked for.
static inline bool cnv_rt_record_hit(struct cnv_rt_table *table, uint64_t record, bool exact) {
    uint32_t index = cnv_rt_self.index;
    if (CNV_UNLIKELY(index == 0)) index = cnv_rt__assign_thread_index();
    struct cnv_rt_stripe *stripe = &table->stripes[(index - 1) & (CNV_RT_STRIPES - 1)];
    atomic_fetch_add_explicit(&stripe->hits, 1, memory_order_relaxed);
    if (!exact) {
        uint32_t x = cnv_rt_self.random;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        cnv_rt_self.random = x;
        // The high bits: xorshift32's low bits are its weakest.
        if (((x >> 16) & table->sample_mask) != 0) return false;
        record |= CNV_RT_SAMPLED;
    }
    uint64_t number = atomic_fetch_add_explicit(&stripe->recorded, 1, memory_order_relaxed);
    atomic_store_explicit(&stripe->records[number & (CNV_RT_RECORDS - 1)], record, memory_order_relaxed);
    uint64_t drained = atomic_load_explicit(&stripe->drained, memory_order_relaxed);
    return number + 1 - drained >= CNV_RT_DRAIN_AT;
}

// ---- writer operations (under the owning shard's lock) ----------------------------------

/// A table for a shard of `capacity` entries (the array keeps at least 3/2 that many slots,
/// so probes stay short and always meet an empty slot); hits past an entry's exact
/// ones are sampled one in 2^`sample_shift` (at most 16; 0: every hit is recorded). `release` drops the table's
/// reference to an entry; it runs on liburcu's call_rcu thread after a grace period, or on
/// the caller's thread in `cnv_rt_destroy`. NULL when out of memory.
struct cnv_rt_table *cnv_rt_create(uint64_t capacity, uint32_t sample_shift, void (*release)(void *entry));

/// Releases every entry and the table. No reader may use the table any more.
void cnv_rt_destroy(struct cnv_rt_table *table);

/// Adds `entry` (the table takes over one reference) under its full `hash`. Rebuilds the
/// array first when live entries and tombstones would exceed 3/4 of it. CNV_ENOMEM if a
/// needed rebuild could not allocate, CNV_EINVAL if the entry's address does not fit in 48
/// bits (never with Linux's default user address space): the entry is then released at once
/// and readers do not see it (they fall back to the locked path, which still finds it).
int cnv_rt_insert(struct cnv_rt_table *table, uint64_t hash, void *entry);

/// Replaces `old` (found by identity under `hash`) with `entry`; `old` is retired. When `old`
/// is not in the table, `entry` is inserted. Errors as cnv_rt_insert (`old` is then retired
/// and `entry` released).
int cnv_rt_replace(struct cnv_rt_table *table, uint64_t hash, void *old, void *entry);

/// Removes `entry` (by identity under `hash`) and retires it. Returns whether it was found.
bool cnv_rt_remove(struct cnv_rt_table *table, uint64_t hash, void *entry);

/// Hands the retired entries not yet in a full batch to call_rcu now (after bulk removals).
void cnv_rt_flush(struct cnv_rt_table *table);

/// Whether `entry` is in the table under `hash` (invariant checks in tests).
bool cnv_rt_contains(const struct cnv_rt_table *table, uint64_t hash, const void *entry);

/// Live entries (writer's count).
static inline uint64_t cnv_rt_live(const struct cnv_rt_table *table) {
    return table->live;
}

/// Copies the undrained records of every stripe into `out` (room for CNV_RT_STRIPES ×
/// CNV_RT_RECORDS) and marks them drained; returns how many. Records a stripe overwrote
/// before this drain are skipped (lost). `recorded` is read with acquire so that the records
/// stored before a thread's previous fetch-add on this stripe are seen when possible.
size_t cnv_rt_drain(struct cnv_rt_table *table, uint64_t *out);

/// Hits counted on the stripes (exact once the counting threads are quiescent).
uint64_t cnv_rt_hits(const struct cnv_rt_table *table);

#ifdef __cplusplus
}
#endif

#endif  // CNV_READ_TABLE_H
