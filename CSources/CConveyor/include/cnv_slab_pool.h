// Slab pool: fixed-size objects carved from slabs, with per-thread magazines over a shared
// depot (Bonwick & Adams, "Magazines and Vmem", 2001).
//
// Each thread that uses a pool gets a cache holding two magazines (stacks of free objects).
// An allocation pops from the loaded magazine and a free pushes onto it: no atomic
// read-modify-write and no shared cache line is touched. Only when both magazines are empty
// (alloc) or full (free) does the thread trade a whole magazine with the depot under the
// pool's lock, once per CNV_MAGAZINE_ROUNDS operations. Freeing from any thread is correct:
// the object simply enters that thread's magazine.
//
// Slabs are aligned to their size, so an object's slab is found by masking its address.
// With the Jemalloc trait a slab comes from a dedicated jemalloc arena (mallocx with
// MALLOCX_ARENA and MALLOCX_TCACHE_NONE, so the thread cache never hands back arena-0
// memory); without it, from mmap.
#ifndef CNV_SLAB_POOL_H
#define CNV_SLAB_POOL_H

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Objects per magazine: one depot exchange per this many allocations or frees.
#define CNV_MAGAZINE_ROUNDS 64
/// Pools alive at once in a process. The registry and each thread's cache table grow on
/// demand (a slot per live pool, reused after destroy), so this is only a sanity bound:
/// 2^20 live pools would hold at least 64 GiB of slabs.
#define CNV_SLAB_MAX_POOLS (1u << 20)
/// Largest object size accepted (1 MiB).
#define CNV_SLAB_MAX_OBJECT_SIZE 1048576ULL // 2^20

/// Where slab memory comes from.
enum cnv_slab_backing {
    /// jemalloc's arena-0 default is never used: a dedicated arena created for Conveyor.
    CNV_SLAB_BACKING_JEMALLOC_ARENA = 0,
    /// Anonymous mmap, one mapping per slab.
    CNV_SLAB_BACKING_MMAP = 1,
};

struct cnv_magazine {
    struct cnv_magazine *next;
    uint32_t count;
    uint32_t reserved;
    void *rounds[CNV_MAGAZINE_ROUNDS];
};

// `reserved` spells out the padding after `count`: a magazine is its header and rounds.
_Static_assert(sizeof(struct cnv_magazine) == 16 + CNV_MAGAZINE_ROUNDS * sizeof(void *),
               "cnv_magazine: header and rounds, no hidden padding");

struct cnv_slab_pool;

/// One thread's cache for one pool. Only the owning thread touches the magazines and the
/// cursor; the counters are owner-written and read by statistics under the pool lock.
///
/// The loaded magazine is used through a cursor kept in the cache itself (`top` into its
/// rounds, between `base` and `limit`), so a fast alloc or free is: thread table → cache →
/// cursor → object, with no load of the magazine header. `loaded->count` is written back
/// (`top - base`) only when the magazine leaves the cache.
struct cnv_slab_cache {
    _Alignas(CNV_FALSE_SHARING_RANGE) void **top;
    void **base;
    void **limit;
    struct cnv_magazine *loaded;
    struct cnv_magazine *previous;
    _Atomic uint64_t allocations;
    _Atomic uint64_t frees;
    /// Operations that had to go to the depot or the slabs.
    _Atomic uint64_t misses;
    struct cnv_slab_cache *next_in_pool;
    struct cnv_slab_pool *pool;
};

// One thread's cache is exactly one CNV_FALSE_SHARING_RANGE line pair: the fast path touches
// nothing another thread writes.
_Static_assert(_Alignof(struct cnv_slab_cache) == CNV_FALSE_SHARING_RANGE &&
                   sizeof(struct cnv_slab_cache) == CNV_FALSE_SHARING_RANGE,
               "cnv_slab_cache: one line pair per thread and pool");

/// A thread's table entry for pool slot i: valid only while `serial` matches the live pool's.
struct cnv_slab_tls_entry {
    uint64_t serial;
    struct cnv_slab_cache *cache;
};
_Static_assert(sizeof(struct cnv_slab_tls_entry) == 16, "cnv_slab_tls_entry: serial + cache");

/// The calling thread's table, indexed by pool slot, allocated on first use and grown (by
/// the owning thread, in the slow path) when it meets a pool whose slot lies beyond it.
/// initial-exec: %fs-relative loads, never a __tls_get_addr call (16 bytes of static TLS).
extern _Thread_local struct cnv_slab_tls_entry *cnv_slab_tls_table
    __attribute__((tls_model("initial-exec")));
/// Entries in `cnv_slab_tls_table` (0 while it is NULL, so one compare covers both).
extern _Thread_local uint32_t cnv_slab_tls_capacity __attribute__((tls_model("initial-exec")));

/// Fields every thread reads on the fast path; they never change after creation, so the
/// line stays shared in every core's cache.
struct cnv_slab_pool_identity {
    uint64_t magic;
    uint64_t serial;
    uint32_t slot;
    uint32_t object_size;
};

/// Pool statistics, merged from every thread's counters on read.
struct cnv_slab_stats {
    uint64_t object_size;
    uint64_t slab_size;
    uint64_t objects_per_slab;
    /// Objects allocated and not yet freed (exact once all threads are quiescent).
    uint64_t objects_in_use;
    /// High-water mark of objects outside the depot (in use or cached in thread magazines),
    /// updated at depot exchanges: an upper bound of the true peak in use that exceeds it by
    /// at most 2 × CNV_MAGAZINE_ROUNDS per thread.
    uint64_t peak_objects_outstanding;
    uint64_t slabs;
    /// Slab bytes plus magazine bytes.
    uint64_t bytes_reserved;
    uint64_t allocations;
    uint64_t frees;
    /// Allocations and frees served by a thread's magazines without the depot.
    uint64_t magazine_hits;
    uint64_t magazine_misses;
    /// Slabs obtained from the backing allocator since creation (refills).
    uint64_t slab_refills;
    uint64_t slabs_released;
    uint64_t depot_full_magazines;
    uint64_t thread_caches;
};
// Swift's SlabPool.Statistics is filled from this struct field by field: all 64-bit, no padding.
_Static_assert(sizeof(struct cnv_slab_stats) == 15 * sizeof(uint64_t), "cnv_slab_stats: 15 uint64 fields");

/// Creates a pool of `object_size`-byte objects (1 … CNV_SLAB_MAX_OBJECT_SIZE; rounded up to a
/// multiple of 16). Errors: CNV_EINVAL, CNV_ENOMEM, CNV_EARENA (dedicated arena could not be
/// created), CNV_ENOTSUP (jemalloc backing asked for without the Jemalloc trait), CNV_ELIMIT.
int cnv_slab_pool_create(size_t object_size, enum cnv_slab_backing backing,
                         struct cnv_slab_pool **out);
/// Destroys a pool and returns all its slabs. Objects still in use become invalid. No other
/// thread may use the pool during or after this call; their caches for it are discarded.
void cnv_slab_pool_destroy(struct cnv_slab_pool *pool);
/// CNV_OK for a live pool, CNV_EDESTROYED when the pool's magic says it was destroyed.
int cnv_slab_pool_check(const struct cnv_slab_pool *pool);
int cnv_slab_pool_stats(struct cnv_slab_pool *pool, struct cnv_slab_stats *out);
/// Moves the calling thread's cached objects for this pool into the depot.
int cnv_slab_pool_flush_thread_cache(struct cnv_slab_pool *pool);
/// Moves the calling thread's cached objects of every live pool it has a cache for into
/// their depots (a thread that goes idle for long: only the owner can empty its magazines,
/// and each free object they hold keeps its slab from being purged). Cold path: takes the
/// registry lock, then each such pool's lock in turn (the order the thread-exit destructor
/// uses). Returns the pools flushed.
uint32_t cnv_slab_flush_thread_caches(void);
/// Flushes the calling thread's cache, releases every slab whose objects are all in the
/// depot, and asks jemalloc to return the dedicated arena's free pages to the OS.
/// Objects cached by other threads keep their slabs. Stores the slab count released.
int cnv_slab_pool_purge(struct cnv_slab_pool *pool, uint64_t *slabs_released);
/// Every live pool of the process, summed: what Conveyor's slabs hold (MemoryMetrics.external).
struct cnv_slab_totals {
    uint64_t pools;
    /// Slab and magazine bytes, and the part of them on the dedicated jemalloc arena (which
    /// jemalloc's stats.allocated counts too).
    uint64_t bytes_reserved;
    uint64_t bytes_reserved_jemalloc;
    /// Bytes of objects allocated and not freed (object size × objects in use).
    uint64_t bytes_in_use;
    uint64_t bytes_in_use_jemalloc;
};
// Read by Swift's MemoryMetrics field by field: all 64-bit, no padding.
_Static_assert(sizeof(struct cnv_slab_totals) == 5 * sizeof(uint64_t), "cnv_slab_totals: 5 uint64 fields");

/// Sums the statistics of every live pool (takes each pool's lock in turn).
int cnv_slab_totals_read(struct cnv_slab_totals *out);
/// Backing of a pool, and the jemalloc arena index of the dedicated arena (or UINT32_MAX).
enum cnv_slab_backing cnv_slab_pool_backing(const struct cnv_slab_pool *pool);
uint32_t cnv_slab_dedicated_arena(void);
/// True when built with the Jemalloc trait.
bool cnv_slab_jemalloc_available(void);

// Slow paths (out of line).
struct cnv_slab_cache *cnv_slab__attach_cache(struct cnv_slab_pool *pool);
void *cnv_slab__alloc_slow(struct cnv_slab_pool *pool, struct cnv_slab_cache *cache);
void cnv_slab__free_slow(struct cnv_slab_pool *pool, struct cnv_slab_cache *cache, void *object);

static inline const struct cnv_slab_pool_identity *cnv_slab__identity(const struct cnv_slab_pool *pool) {
    // The identity block is the pool's first member (see cnv_slab_pool.c).
    return (const struct cnv_slab_pool_identity *)(const void *)pool;
}

/// The calling thread's cache for `pool`, or NULL if one could not be created.
static inline struct cnv_slab_cache *cnv_slab__cache(struct cnv_slab_pool *pool) {
    const struct cnv_slab_pool_identity *identity = cnv_slab__identity(pool);
    if (CNV_LIKELY(identity->slot < cnv_slab_tls_capacity)) {
        struct cnv_slab_tls_entry *entry = &cnv_slab_tls_table[identity->slot];
        if (CNV_LIKELY(entry->serial == identity->serial)) return entry->cache;
    }
    return cnv_slab__attach_cache(pool);
}

/// Allocates one object. Returns NULL when memory ran out or the pool was destroyed
/// (`cnv_slab_pool_check` tells which).
static inline void *cnv_slab_alloc(struct cnv_slab_pool *pool) {
    struct cnv_slab_cache *cache = cnv_slab__cache(pool);
    if (CNV_UNLIKELY(cache == NULL)) return cnv_slab__alloc_slow(pool, NULL);
    void **top = cache->top;
    if (CNV_LIKELY(top != cache->base)) {
        cache->top = top - 1;
        cnv_owned_counter_add(&cache->allocations, 1);
        return top[-1];
    }
    return cnv_slab__alloc_slow(pool, cache);
}

/// Returns an object to the pool, from any thread.
static inline void cnv_slab_free(struct cnv_slab_pool *pool, void *object) {
    struct cnv_slab_cache *cache = cnv_slab__cache(pool);
    if (CNV_UNLIKELY(cache == NULL)) {
        cnv_slab__free_slow(pool, NULL, object);
        return;
    }
    void **top = cache->top;
    if (CNV_LIKELY(top != cache->limit)) {
        *top = object;
        cache->top = top + 1;
        cnv_owned_counter_add(&cache->frees, 1);
        return;
    }
    cnv_slab__free_slow(pool, cache, object);
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_SLAB_POOL_H
