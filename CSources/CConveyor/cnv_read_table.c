// The ResultCache's lock-free read side: writer operations, drains and reclamation.
// See include/cnv_read_table.h for the design. _LGPL_SOURCE stays undefined: liburcu is
// LGPL-2.1 and linked dynamically, so urcu-bp's functions are called, never inlined.
#include "cnv_read_table.h"

#include <stdlib.h>
#include <string.h>
#include <urcu-bp.h>

_Thread_local struct cnv_rt_thread cnv_rt_self __attribute__((tls_model("initial-exec")));

#ifdef CNV_RT_TSAN
char cnv_rt_tsan_grace;
#endif

/// Threads get consecutive stripe numbers in the order they first hit, so a few threads
/// land on distinct stripes. Relaxed: the number only has to be unique-ish, it publishes
/// nothing.
static _Atomic uint32_t next_thread_index;

uint32_t cnv_rt__assign_thread_index(void) {
    uint32_t index = atomic_fetch_add_explicit(&next_thread_index, 1, memory_order_relaxed) + 1;
    if (index == 0) index = 1;  // wrapped: 0 means unassigned
    cnv_rt_self.index = index;
    // A distinct nonzero xorshift seed per thread (xorshift32 stays at 0 from 0).
    uint32_t seed = index * 0x9E3779B9u;
    cnv_rt_self.random = seed != 0 ? seed : 0x6D2B79F5u;
    return index;
}

/// An array with its RCU head in front (the callback frees the whole block).
struct cnv_rt_array_block {
    struct rcu_head rcu;
    struct cnv_rt_array array;  // flexible: must stay last
};

/// Retired entries released together after one grace period.
struct cnv_rt_batch {
    struct rcu_head rcu;
    void (*release)(void *entry);
    uint32_t count;
    void *entries[CNV_RT_BATCH];
};

/// The slot count for `live` entries: a power of two, at least 16, that keeps them within
/// 2/3 of the slots (linear probing stays short; eight slots share a line).
static uint64_t slots_for(uint64_t live) {
    uint64_t slots = 16;
    while (slots * 2 < live * 3) slots <<= 1;
    return slots;
}

static struct cnv_rt_array *array_create(uint64_t capacity) {
    // The readers' slots first, then the writer's full hashes: a reader's probe touches only
    // the slot words (8 bytes each), the hashes sit on lines of their own after them.
    struct cnv_rt_array_block *block =
        calloc(1, sizeof(struct cnv_rt_array_block) + capacity * (sizeof(uint64_t) + sizeof(uint64_t)));
    if (block == NULL) return NULL;
    block->array.mask = capacity - 1;
    block->array.capacity = capacity;
    block->array.hashes = (uint64_t *)(void *)&block->array.slots[capacity];
    return &block->array;
}

/// The slot word for `entry` under `hash`, or CNV_RT_EMPTY when its address has bits past 48.
static uint64_t slot_word(uint64_t hash, const void *entry) {
    uint64_t address = (uint64_t)(uintptr_t)entry;
    if ((address & ~CNV_RT_ADDRESS_MASK) != 0) return CNV_RT_EMPTY;
    return (cnv_rt_tag_of(hash) << CNV_RT_ADDRESS_BITS) | address;
}

/// The entry address of a slot word that holds one.
static void *slot_entry(uint64_t word) {
    return (void *)(uintptr_t)(word & CNV_RT_ADDRESS_MASK);
}

static struct cnv_rt_array_block *block_of(struct cnv_rt_array *array) {
    return (struct cnv_rt_array_block *)((char *)array - offsetof(struct cnv_rt_array_block, array));
}

static void free_array_after_grace(struct rcu_head *head) {
#ifdef CNV_RT_TSAN
    __tsan_acquire(&cnv_rt_tsan_grace);
#endif
    free(head);  // rcu is the block's first member
}

static void release_batch_after_grace(struct rcu_head *head) {
#ifdef CNV_RT_TSAN
    __tsan_acquire(&cnv_rt_tsan_grace);
#endif
    struct cnv_rt_batch *batch = (struct cnv_rt_batch *)head;
    for (uint32_t index = 0; index < batch->count; index++) batch->release(batch->entries[index]);
    free(batch);
}

struct cnv_rt_table *cnv_rt_create(uint64_t capacity, uint32_t sample_shift, void (*release)(void *entry)) {
    uint64_t slots = slots_for(capacity + 1);
    struct cnv_rt_table *table = cnv__aligned_zeroed(sizeof(struct cnv_rt_table));
    if (table == NULL) return NULL;
    struct cnv_rt_array *array = array_create(slots);
    if (array == NULL) {
        free(table);
        return NULL;
    }
    table->minimum_capacity = slots;
    table->release = release;
    if (sample_shift > 16) sample_shift = 16;
    table->sample_mask = (UINT64_C(1) << sample_shift) - 1;
    // Relaxed: the table is not shared yet; whoever receives its pointer synchronizes with us.
    atomic_store_explicit(&table->array, array, memory_order_relaxed);
    return table;
}

void cnv_rt_destroy(struct cnv_rt_table *table) {
    if (table == NULL) return;
    // No reader can reach the table any more (its owner is gone), so the live entries and
    // the current array are released at once.
    struct cnv_rt_array *array = atomic_load_explicit(&table->array, memory_order_relaxed);
    for (uint64_t index = 0; index < array->capacity; index++) {
        uint64_t word = atomic_load_explicit(&array->slots[index], memory_order_relaxed);
        if (word > CNV_RT_TOMBSTONE) table->release(slot_entry(word));
    }
    free(block_of(array));
    // Entries retired earlier keep their grace period: the pending batch goes to call_rcu
    // like every other (it refers to the release function, not to the table).
    cnv_rt_flush(table);
    free(table);
}

/// Writer's probe for a free slot (empty or tombstone) from `hash`.
static uint64_t find_free(const struct cnv_rt_array *array, uint64_t hash) {
    uint64_t index = hash & array->mask;
    for (;;) {
        // Relaxed: only the writer (this thread, under the shard lock) stores slots.
        uint64_t word = atomic_load_explicit(&array->slots[index], memory_order_relaxed);
        if (word <= CNV_RT_TOMBSTONE) return index;
        index = (index + 1) & array->mask;
    }
}

/// Writer's probe for `entry` by identity from `hash`; capacity when absent.
static uint64_t find_entry(const struct cnv_rt_array *array, uint64_t hash, const void *entry) {
    uint64_t wanted = slot_word(hash, entry);
    if (wanted == CNV_RT_EMPTY) return array->capacity;  // never stored (address past 48 bits)
    uint64_t index = hash & array->mask;
    for (uint64_t probes = 0; probes < array->capacity; probes++) {
        // Relaxed: only the writer (this thread, under the shard lock) stores slots.
        uint64_t seen = atomic_load_explicit(&array->slots[index], memory_order_relaxed);
        if (seen == CNV_RT_EMPTY) break;
        if (seen == wanted) return index;
        index = (index + 1) & array->mask;
    }
    return array->capacity;
}

/// Copies the live entries into a fresh array of `capacity` slots and publishes it; the old
/// array is freed after a grace period (readers may still be probing it).
static int rebuild(struct cnv_rt_table *table, uint64_t capacity) {
    struct cnv_rt_array *old = atomic_load_explicit(&table->array, memory_order_relaxed);
    struct cnv_rt_array *fresh = array_create(capacity);
    if (fresh == NULL) return CNV_ENOMEM;
    for (uint64_t index = 0; index < old->capacity; index++) {
        uint64_t word = atomic_load_explicit(&old->slots[index], memory_order_relaxed);
        if (word <= CNV_RT_TOMBSTONE) continue;
        uint64_t hash = old->hashes[index];
        uint64_t slot = find_free(fresh, hash);
        // Relaxed: `fresh` is unpublished; the release store of `array` below publishes it all.
        atomic_store_explicit(&fresh->slots[slot], word, memory_order_relaxed);
        fresh->hashes[slot] = hash;
    }
    // Release: a reader that acquires the new array sees every slot written above.
    atomic_store_explicit(&table->array, fresh, memory_order_release);
    table->tombstones = 0;
#ifdef CNV_RT_TSAN
    __tsan_release(&cnv_rt_tsan_grace);  // this thread's writes happen before the callback
#endif
    urcu_bp_call_rcu(&block_of(old)->rcu, free_array_after_grace);
    return CNV_OK;
}

static void retire(struct cnv_rt_table *table, void *entry) {
    struct cnv_rt_batch *batch = table->pending;
    if (batch == NULL) {
        batch = malloc(sizeof(*batch));
        if (batch == NULL) {
            // No memory for the batch: wait for the grace period here (slow, but safe).
            urcu_bp_synchronize_rcu();
#ifdef CNV_RT_TSAN
            __tsan_acquire(&cnv_rt_tsan_grace);
#endif
            table->release(entry);
            return;
        }
        batch->release = table->release;
        batch->count = 0;
        table->pending = batch;
    }
    batch->entries[batch->count++] = entry;
    if (batch->count == CNV_RT_BATCH) cnv_rt_flush(table);
}

void cnv_rt_flush(struct cnv_rt_table *table) {
    struct cnv_rt_batch *batch = table->pending;
    if (batch == NULL) return;
    table->pending = NULL;
#ifdef CNV_RT_TSAN
    __tsan_release(&cnv_rt_tsan_grace);  // this thread's writes happen before the callback
#endif
    urcu_bp_call_rcu(&batch->rcu, release_batch_after_grace);
}

int cnv_rt_insert(struct cnv_rt_table *table, uint64_t hash, void *entry) {
    uint64_t word = slot_word(hash, entry);
    if (word == CNV_RT_EMPTY) {
        table->release(entry);  // an address past 48 bits: never published
        return CNV_EINVAL;
    }
    struct cnv_rt_array *array = atomic_load_explicit(&table->array, memory_order_relaxed);
    if ((table->live + table->tombstones + 1) * 4 > array->capacity * 3) {
        // Grow when live entries alone pass 2/3; otherwise compact the tombstones away.
        uint64_t capacity = array->capacity;
        uint64_t needed = slots_for(table->live + 1);
        if (needed > capacity) capacity = needed;
        if (rebuild(table, capacity) != CNV_OK) {
            table->release(entry);  // never published
            return CNV_ENOMEM;
        }
        array = atomic_load_explicit(&table->array, memory_order_relaxed);
    }
    uint64_t slot = find_free(array, hash);
    if (atomic_load_explicit(&array->slots[slot], memory_order_relaxed) == CNV_RT_TOMBSTONE) table->tombstones--;
    array->hashes[slot] = hash;  // writer only: readers never read the hashes
    // Release: a reader that acquires the word sees the object's fields (written before).
    atomic_store_explicit(&array->slots[slot], word, memory_order_release);
    table->live++;
    return CNV_OK;
}

int cnv_rt_replace(struct cnv_rt_table *table, uint64_t hash, void *old, void *entry) {
    struct cnv_rt_array *array = atomic_load_explicit(&table->array, memory_order_relaxed);
    uint64_t slot = find_entry(array, hash, old);
    if (slot == array->capacity) return cnv_rt_insert(table, hash, entry);
    uint64_t word = slot_word(hash, entry);
    if (word == CNV_RT_EMPTY) {
        // The new entry cannot be published (address past 48 bits): the old one leaves too,
        // so that readers fall back to the locked path instead of finding a stale value.
        cnv_rt_remove(table, hash, old);
        table->release(entry);
        return CNV_EINVAL;
    }
    // Release: publishes the new object's fields (same hash, so the writer's hash stays).
    atomic_store_explicit(&array->slots[slot], word, memory_order_release);
    retire(table, old);
    return CNV_OK;
}

bool cnv_rt_remove(struct cnv_rt_table *table, uint64_t hash, void *entry) {
    struct cnv_rt_array *array = atomic_load_explicit(&table->array, memory_order_relaxed);
    uint64_t slot = find_entry(array, hash, entry);
    if (slot == array->capacity) return false;
    // Relaxed: a tombstone publishes nothing; readers that still see the old entry may use
    // it until their section ends, which the grace period before its release waits for.
    atomic_store_explicit(&array->slots[slot], CNV_RT_TOMBSTONE, memory_order_relaxed);
    table->live--;
    table->tombstones++;
    retire(table, entry);
    return true;
}

bool cnv_rt_contains(const struct cnv_rt_table *table, uint64_t hash, const void *entry) {
    const struct cnv_rt_array *array = atomic_load_explicit(&((struct cnv_rt_table *)table)->array, memory_order_relaxed);
    return find_entry(array, hash, entry) != array->capacity;
}

size_t cnv_rt_drain(struct cnv_rt_table *table, uint64_t *out) {
    size_t count = 0;
    for (uint32_t index = 0; index < CNV_RT_STRIPES; index++) {
        struct cnv_rt_stripe *stripe = &table->stripes[index];
        uint64_t written = atomic_load_explicit(&stripe->recorded, memory_order_acquire);
        // Relaxed: `drained` is written only by drainers, which hold the shard lock.
        uint64_t drained = atomic_load_explicit(&stripe->drained, memory_order_relaxed);
        if (written == drained) continue;
        if (written - drained > CNV_RT_RECORDS) drained = written - CNV_RT_RECORDS;  // overwritten: lost
        for (uint64_t record = drained; record < written; record++) {
            out[count++] = atomic_load_explicit(&stripe->records[record & (CNV_RT_RECORDS - 1)], memory_order_relaxed);
        }
        atomic_store_explicit(&stripe->drained, written, memory_order_relaxed);
    }
    return count;
}

uint64_t cnv_rt_hits(const struct cnv_rt_table *table) {
    uint64_t total = 0;
    for (uint32_t index = 0; index < CNV_RT_STRIPES; index++) {
        total += atomic_load_explicit(&((struct cnv_rt_table *)table)->stripes[index].hits, memory_order_relaxed);
    }
    return total;
}
