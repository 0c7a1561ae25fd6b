// Slab pool: depot, slabs, thread caches and purge. The fast paths are inline in the header.
//
// Locks (all on cold paths): `registry_lock` guards the table of live pools and is taken
// before a pool's `lock`, which guards that pool's depot, slab list and cache list.
#include "cnv_slab_pool.h"
#include "cnv_fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef CONVEYOR_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define CNV_SLAB_MAGIC UINT64_C(0x4c4f4f50424c4153)  // "SLABPOOL"
#define CNV_SLAB_DEAD UINT64_C(0x444145444c4f4f50)
#define CNV_SLAB_MIN_SIZE ((size_t)64 * 1024)
#define CNV_SLAB_HEADER_SIZE ((size_t)CNV_CACHE_LINE)
#define CNV_SLAB_OBJECT_ALIGN ((size_t)16)

struct cnv_slab {
    struct cnv_slab *next;
    struct cnv_slab *prev;
    /// Objects handed out of this slab so far (the rest were never touched).
    uint32_t carved;
    /// Purge scratch: objects of this slab found in the depot.
    uint32_t free_in_depot;
};
_Static_assert(sizeof(struct cnv_slab) <= CNV_SLAB_HEADER_SIZE, "slab header fits its reserve");

/// A free object parked outside any magazine (when none could be allocated): the object's
/// own memory holds the link.
struct cnv_loose_object {
    struct cnv_loose_object *next;
};

struct cnv_slab_pool {
    /// Read by every thread's fast path; never written while the pool is live.
    _Alignas(CNV_FALSE_SHARING_RANGE) struct cnv_slab_pool_identity identity;
    size_t slab_size;
    uint32_t objects_per_slab;
    enum cnv_slab_backing backing;

    /// Everything below is guarded by `lock`.
    _Alignas(CNV_FALSE_SHARING_RANGE) pthread_mutex_t lock;
    struct cnv_magazine *full_magazines;  // non-empty magazines
    uint64_t full_magazine_count;
    struct cnv_magazine *empty_magazines;
    uint64_t magazine_count;  // every magazine this pool owns, wherever it is
    struct cnv_loose_object *loose;
    struct cnv_slab *slabs;
    uint64_t slab_count;
    struct cnv_slab *current;  // slab still being carved
    struct cnv_slab_cache *caches;
    uint64_t cache_count;
    uint64_t outstanding;  // objects outside the depot and the uncarved slab space
    uint64_t peak_outstanding;
    uint64_t retired_allocations;  // counters of exited threads and of cache-less calls
    uint64_t retired_frees;
    uint64_t retired_misses;
    uint64_t slab_refills;
    uint64_t slabs_released;
};

_Thread_local struct cnv_slab_tls_entry *cnv_slab_tls_table __attribute__((tls_model("initial-exec")));
_Thread_local uint32_t cnv_slab_tls_capacity __attribute__((tls_model("initial-exec")));

/// Live pools by slot; grows by doubling (never shrinks), a destroyed pool's slot is reused.
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cnv_slab_pool **registry;
static uint32_t registry_capacity;
/// Live pools; when the last one is destroyed the table itself is freed.
static uint32_t registry_live;
static uint64_t registry_next_serial = 1;

/// A thread's table is allocated with one header entry in front, whose `serial` holds the
/// capacity, so the pthread key destructor (given the allocation) knows its length.
#define CNV_SLAB_TLS_MIN_CAPACITY 64u

static pthread_once_t tls_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static int tls_key_status = CNV_OK;

// MARK: Slab memory

#ifdef CONVEYOR_JEMALLOC
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static unsigned arena_index = UINT32_MAX;
static int arena_status = CNV_OK;

static void arena_create(void) {
    size_t size = sizeof(arena_index);
    if (mallctl("arenas.create", &arena_index, &size, NULL, 0) != 0) {
        arena_status = CNV_EARENA;
        arena_index = UINT32_MAX;
    }
}
#endif

bool cnv_slab_jemalloc_available(void) {
#ifdef CONVEYOR_JEMALLOC
    return true;
#else
    return false;
#endif
}

uint32_t cnv_slab_dedicated_arena(void) {
#ifdef CONVEYOR_JEMALLOC
    pthread_once(&arena_once, arena_create);
    return arena_index;
#else
    return UINT32_MAX;
#endif
}

static void *slab_memory_allocate(struct cnv_slab_pool *pool) {
    if (CNV_FAULT(CNV_FAULT_SLAB_MEMORY)) return NULL;
#ifdef CONVEYOR_JEMALLOC
    if (pool->backing == CNV_SLAB_BACKING_JEMALLOC_ARENA) {
        // TCACHE_NONE: the thread cache would hand back memory of arena 0.
        return mallocx(pool->slab_size, MALLOCX_ALIGN(pool->slab_size) | MALLOCX_ARENA(arena_index) |
                                            MALLOCX_TCACHE_NONE);
    }
#endif
    // Over-allocate, then trim to an aligned window of slab_size bytes.
    size_t length = pool->slab_size * 2;
    void *raw = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)raw + pool->slab_size - 1) & ~(uintptr_t)(pool->slab_size - 1);
    size_t lead = start - (uintptr_t)raw;
    if (lead > 0) munmap(raw, lead);
    size_t trail = length - lead - pool->slab_size;
    if (trail > 0) munmap((void *)(start + pool->slab_size), trail);
    return (void *)start;
}

static void slab_memory_release(struct cnv_slab_pool *pool, void *memory) {
#ifdef CONVEYOR_JEMALLOC
    if (pool->backing == CNV_SLAB_BACKING_JEMALLOC_ARENA) {
        sdallocx(memory, pool->slab_size, MALLOCX_TCACHE_NONE);
        return;
    }
#endif
    munmap(memory, pool->slab_size);
}

static inline struct cnv_slab *slab_of(const struct cnv_slab_pool *pool, const void *object) {
    return (struct cnv_slab *)((uintptr_t)object & ~(uintptr_t)(pool->slab_size - 1));
}

// MARK: The loaded magazine's cursor (owner thread only)

/// Writes the cursor back into the loaded magazine's count before anyone else looks at it.
static inline void cache_sync(struct cnv_slab_cache *cache) {
    cache->loaded->count = (uint32_t)(cache->top - cache->base);
}

/// Makes `magazine` the loaded one and points the cursor at its rounds.
static inline void cache_load(struct cnv_slab_cache *cache, struct cnv_magazine *magazine) {
    cache->loaded = magazine;
    cache->base = magazine->rounds;
    cache->limit = magazine->rounds + CNV_MAGAZINE_ROUNDS;
    cache->top = magazine->rounds + magazine->count;
}

/// Swaps the loaded and previous magazines.
static inline void cache_swap(struct cnv_slab_cache *cache) {
    cache_sync(cache);
    struct cnv_magazine *previous = cache->previous;
    cache->previous = cache->loaded;
    cache_load(cache, previous);
}

// MARK: Depot (pool lock held)

static struct cnv_magazine *depot_take_empty_locked(struct cnv_slab_pool *pool) {
    struct cnv_magazine *magazine = pool->empty_magazines;
    if (magazine != NULL) {
        pool->empty_magazines = magazine->next;
        magazine->next = NULL;
        return magazine;
    }
    magazine = CNV_FAULT(CNV_FAULT_MAGAZINE) ? NULL : calloc(1, sizeof(*magazine));
    if (magazine != NULL) pool->magazine_count++;
    return magazine;
}

static void depot_put_locked(struct cnv_slab_pool *pool, struct cnv_magazine *magazine) {
    if (magazine->count > 0) {
        pool->outstanding -= magazine->count;
        magazine->next = pool->full_magazines;
        pool->full_magazines = magazine;
        pool->full_magazine_count++;
    } else {
        magazine->next = pool->empty_magazines;
        pool->empty_magazines = magazine;
    }
}

static void note_outstanding_locked(struct cnv_slab_pool *pool, uint64_t taken) {
    pool->outstanding += taken;
    if (pool->outstanding > pool->peak_outstanding) pool->peak_outstanding = pool->outstanding;
}

/// Puts up to `want` free objects into `magazine` from the loose list, then by carving slabs.
/// Returns how many were added (0 only when memory ran out).
static uint32_t carve_locked(struct cnv_slab_pool *pool, struct cnv_magazine *magazine, uint32_t want) {
    uint32_t added = 0;
    while (added < want && pool->loose != NULL) {
        struct cnv_loose_object *object = pool->loose;
        pool->loose = object->next;
        magazine->rounds[magazine->count++] = object;
        added++;
    }
    while (added < want) {
        struct cnv_slab *slab = pool->current;
        if (slab == NULL || slab->carved == pool->objects_per_slab) {
            void *memory = slab_memory_allocate(pool);
            if (memory == NULL) break;
            slab = memory;
            slab->carved = 0;
            slab->free_in_depot = 0;
            slab->prev = NULL;
            slab->next = pool->slabs;
            if (pool->slabs != NULL) pool->slabs->prev = slab;
            pool->slabs = slab;
            pool->slab_count++;
            pool->slab_refills++;
            pool->current = slab;
        }
        char *base = (char *)slab + CNV_SLAB_HEADER_SIZE;
        while (added < want && slab->carved < pool->objects_per_slab) {
            magazine->rounds[magazine->count++] = base + (size_t)slab->carved * pool->identity.object_size;
            slab->carved++;
            added++;
        }
    }
    note_outstanding_locked(pool, added);
    return added;
}

// MARK: Creation and destruction

/// Gives `pool` a free slot (growing the registry when none is left) and a fresh serial.
static int registry_insert_locked(struct cnv_slab_pool *pool) {
    uint32_t slot = 0;
    while (slot < registry_capacity && registry[slot] != NULL) slot++;
    if (slot == registry_capacity) {
        if (registry_capacity >= CNV_SLAB_MAX_POOLS) return CNV_ELIMIT;
        uint32_t grown = registry_capacity == 0 ? CNV_SLAB_TLS_MIN_CAPACITY : registry_capacity * 2;
        struct cnv_slab_pool **larger =
            CNV_FAULT(CNV_FAULT_REGISTRY) ? NULL : realloc(registry, (size_t)grown * sizeof(*larger));
        if (larger == NULL) return CNV_ENOMEM;
        memset(larger + registry_capacity, 0, (size_t)(grown - registry_capacity) * sizeof(*larger));
        registry = larger;
        registry_capacity = grown;
    }
    pool->identity.slot = slot;
    pool->identity.serial = registry_next_serial++;
    registry[slot] = pool;
    registry_live++;
    return CNV_OK;
}

int cnv_slab_pool_create(size_t object_size, enum cnv_slab_backing backing, struct cnv_slab_pool **out) {
    if (out == NULL) return CNV_EINVAL;
    *out = NULL;
    if (object_size == 0 || object_size > CNV_SLAB_MAX_OBJECT_SIZE) return CNV_EINVAL;
    if (backing != CNV_SLAB_BACKING_JEMALLOC_ARENA && backing != CNV_SLAB_BACKING_MMAP) return CNV_EINVAL;
    if (backing == CNV_SLAB_BACKING_JEMALLOC_ARENA) {
#ifdef CONVEYOR_JEMALLOC
        pthread_once(&arena_once, arena_create);
        if (arena_status != CNV_OK) return arena_status;
#else
        return CNV_ENOTSUP;
#endif
    }
    size_t rounded = (object_size + CNV_SLAB_OBJECT_ALIGN - 1) & ~(CNV_SLAB_OBJECT_ALIGN - 1);
    size_t slab_size = CNV_SLAB_MIN_SIZE;
    while (slab_size < CNV_SLAB_HEADER_SIZE + 8 * rounded) slab_size *= 2;

    struct cnv_slab_pool *pool = NULL;
    if (CNV_FAULT(CNV_FAULT_POOL) || posix_memalign((void **)&pool, CNV_FALSE_SHARING_RANGE, sizeof(*pool)) != 0) {
        return CNV_ENOMEM;
    }
    memset(pool, 0, sizeof(*pool));
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        free(pool);
        return CNV_ENOMEM;
    }
    pool->identity.magic = CNV_SLAB_MAGIC;
    pool->identity.object_size = (uint32_t)rounded;
    pool->slab_size = slab_size;
    pool->objects_per_slab = (uint32_t)((slab_size - CNV_SLAB_HEADER_SIZE) / rounded);
    pool->backing = backing;

    pthread_mutex_lock(&registry_lock);
    int status = registry_insert_locked(pool);
    pthread_mutex_unlock(&registry_lock);
    if (status != CNV_OK) {
        pthread_mutex_destroy(&pool->lock);
        free(pool);
        return status;
    }
    *out = pool;
    return CNV_OK;
}

int cnv_slab_pool_check(const struct cnv_slab_pool *pool) {
    if (pool == NULL) return CNV_EINVAL;
    return pool->identity.magic == CNV_SLAB_MAGIC ? CNV_OK : CNV_EDESTROYED;
}

static void free_magazine_list(struct cnv_magazine *magazine) {
    while (magazine != NULL) {
        struct cnv_magazine *next = magazine->next;
        free(magazine);
        magazine = next;
    }
}

void cnv_slab_pool_destroy(struct cnv_slab_pool *pool) {
    if (pool == NULL || pool->identity.magic != CNV_SLAB_MAGIC) return;
    // Unregister first: an exiting thread's destructor then no longer finds this pool.
    pthread_mutex_lock(&registry_lock);
    registry[pool->identity.slot] = NULL;
    if (--registry_live == 0) {
        // No pool left: give the table back (threads' tables stay valid: serials never repeat).
        free(registry);
        registry = NULL;
        registry_capacity = 0;
    }
    pthread_mutex_unlock(&registry_lock);

    pthread_mutex_lock(&pool->lock);
    pool->identity.magic = CNV_SLAB_DEAD;
    pool->identity.serial = 0;
    struct cnv_slab_cache *cache = pool->caches;
    while (cache != NULL) {
        struct cnv_slab_cache *next = cache->next_in_pool;
        free(cache->loaded);
        free(cache->previous);
        free(cache);
        cache = next;
    }
    free_magazine_list(pool->full_magazines);
    free_magazine_list(pool->empty_magazines);
    struct cnv_slab *slab = pool->slabs;
    while (slab != NULL) {
        struct cnv_slab *next = slab->next;
        slab_memory_release(pool, slab);
        slab = next;
    }
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

// MARK: Thread caches

static void retire_cache_locked(struct cnv_slab_pool *pool, struct cnv_slab_cache *cache) {
    cache_sync(cache);
    depot_put_locked(pool, cache->loaded);
    depot_put_locked(pool, cache->previous);
    pool->retired_allocations += atomic_load_explicit(&cache->allocations, memory_order_relaxed);
    pool->retired_frees += atomic_load_explicit(&cache->frees, memory_order_relaxed);
    pool->retired_misses += atomic_load_explicit(&cache->misses, memory_order_relaxed);
    struct cnv_slab_cache **link = &pool->caches;
    while (*link != NULL && *link != cache) link = &(*link)->next_in_pool;
    if (*link == cache) *link = cache->next_in_pool;
    pool->cache_count--;
    free(cache);
}

/// Calls `visit` under each pool's lock for every live pool that has a cache in `table` (a
/// thread's TLS table of `capacity` entries), holding the registry lock throughout: it keeps
/// every pool it names alive (destroy takes it to unregister). Returns the caches visited.
static uint32_t for_each_live_cache(struct cnv_slab_tls_entry *table, uint32_t capacity,
                                    void (*visit)(struct cnv_slab_pool *, struct cnv_slab_cache *)) {
    uint32_t visited = 0;
    pthread_mutex_lock(&registry_lock);
    uint32_t live = capacity < registry_capacity ? capacity : registry_capacity;
    for (uint32_t i = 0; i < live; i++) {
        struct cnv_slab_pool *pool = registry[i];
        if (table[i].serial == 0 || pool == NULL || pool->identity.serial != table[i].serial) continue;
        pthread_mutex_lock(&pool->lock);
        visit(pool, table[i].cache);
        pthread_mutex_unlock(&pool->lock);
        visited++;
    }
    pthread_mutex_unlock(&registry_lock);
    return visited;
}

/// pthread key destructor: hands an exiting thread's magazines back to the live pools.
static void tls_table_destructor(void *argument) {
    struct cnv_slab_tls_entry *allocation = argument;
    uint32_t capacity = (uint32_t)allocation[0].serial;
    for_each_live_cache(allocation + 1, capacity, retire_cache_locked);
    cnv_slab_tls_capacity = 0;
    cnv_slab_tls_table = NULL;
    free(allocation);
}

static void tls_key_create(void) {
    if (pthread_key_create(&tls_key, tls_table_destructor) != 0) tls_key_status = CNV_ENOMEM;
}

/// Makes the calling thread's table hold at least `slot + 1` entries (owner thread only:
/// no other thread reads it). Returns false when memory ran out.
static bool tls_table_reserve(uint32_t slot) {
    if (slot < cnv_slab_tls_capacity) return true;
    pthread_once(&tls_key_once, tls_key_create);
    if (tls_key_status != CNV_OK) return false;
    uint32_t capacity = cnv_slab_tls_capacity == 0 ? CNV_SLAB_TLS_MIN_CAPACITY : cnv_slab_tls_capacity;
    while (capacity <= slot) capacity *= 2;
    struct cnv_slab_tls_entry *allocation =
        CNV_FAULT(CNV_FAULT_TLS_TABLE) ? NULL : calloc((size_t)capacity + 1, sizeof(*allocation));
    if (allocation == NULL) return false;
    allocation[0].serial = capacity;
    if (cnv_slab_tls_table != NULL) {
        memcpy(allocation + 1, cnv_slab_tls_table, (size_t)cnv_slab_tls_capacity * sizeof(*allocation));
    }
    if (pthread_setspecific(tls_key, allocation) != 0) {
        free(allocation);
        return false;
    }
    if (cnv_slab_tls_table != NULL) free(cnv_slab_tls_table - 1);
    cnv_slab_tls_table = allocation + 1;
    cnv_slab_tls_capacity = capacity;
    return true;
}

struct cnv_slab_cache *cnv_slab__attach_cache(struct cnv_slab_pool *pool) {
    if (pool->identity.magic != CNV_SLAB_MAGIC) return NULL;
    if (!tls_table_reserve(pool->identity.slot)) return NULL;
    struct cnv_slab_tls_entry *table = cnv_slab_tls_table;
    // An entry with another serial belonged to a destroyed pool, which freed its cache.
    struct cnv_slab_cache *cache = NULL;
    if (CNV_FAULT(CNV_FAULT_THREAD_CACHE) || posix_memalign((void **)&cache, CNV_FALSE_SHARING_RANGE, sizeof(*cache)) != 0) {
        return NULL;
    }
    memset(cache, 0, sizeof(*cache));
    cache->pool = pool;
    pthread_mutex_lock(&pool->lock);
    struct cnv_magazine *loaded = depot_take_empty_locked(pool);
    cache->previous = depot_take_empty_locked(pool);
    if (loaded == NULL || cache->previous == NULL) {
        if (loaded != NULL) depot_put_locked(pool, loaded);
        if (cache->previous != NULL) depot_put_locked(pool, cache->previous);
        pthread_mutex_unlock(&pool->lock);
        free(cache);
        return NULL;
    }
    cache_load(cache, loaded);
    cache->next_in_pool = pool->caches;
    pool->caches = cache;
    pool->cache_count++;
    pthread_mutex_unlock(&pool->lock);
    table[pool->identity.slot].cache = cache;
    table[pool->identity.slot].serial = pool->identity.serial;
    return cache;
}

static void *take_one_uncached_locked(struct cnv_slab_pool *pool) {
    // Used only when no thread cache could be made: serve straight from the depot or slabs.
    struct cnv_magazine *magazine = pool->full_magazines;
    if (magazine != NULL) {
        void *object = magazine->rounds[--magazine->count];
        note_outstanding_locked(pool, 1);
        if (magazine->count == 0) {
            pool->full_magazines = magazine->next;
            pool->full_magazine_count--;
            magazine->next = pool->empty_magazines;
            pool->empty_magazines = magazine;
        }
        return object;
    }
    struct cnv_magazine scratch = {0};
    if (carve_locked(pool, &scratch, 1) == 0) return NULL;
    return scratch.rounds[0];
}

void *cnv_slab__alloc_slow(struct cnv_slab_pool *pool, struct cnv_slab_cache *cache) {
    if (pool->identity.magic != CNV_SLAB_MAGIC) return NULL;
    if (cache == NULL) {
        pthread_mutex_lock(&pool->lock);
        void *object = take_one_uncached_locked(pool);
        if (object != NULL) pool->retired_allocations++;
        pool->retired_misses++;
        pthread_mutex_unlock(&pool->lock);
        return object;
    }
    if (cache->previous->count > 0) {
        // Both magazines are ours: swapping them touches nothing shared.
        cache_swap(cache);
    } else {
        pthread_mutex_lock(&pool->lock);
        cnv_owned_counter_add(&cache->misses, 1);
        struct cnv_magazine *full = pool->full_magazines;
        if (full != NULL) {
            pool->full_magazines = full->next;
            pool->full_magazine_count--;
            full->next = NULL;
            note_outstanding_locked(pool, full->count);
            cache_sync(cache);
            depot_put_locked(pool, cache->previous);  // empty
            cache->previous = cache->loaded;          // empty
            cache_load(cache, full);
        } else {
            cache_sync(cache);
            uint32_t added = carve_locked(pool, cache->loaded, CNV_MAGAZINE_ROUNDS);
            cache_load(cache, cache->loaded);
            if (added == 0) {
                pthread_mutex_unlock(&pool->lock);
                return NULL;
            }
        }
        pthread_mutex_unlock(&pool->lock);
    }
    cnv_owned_counter_add(&cache->allocations, 1);
    cache->top--;
    return *cache->top;
}

void cnv_slab__free_slow(struct cnv_slab_pool *pool, struct cnv_slab_cache *cache, void *object) {
    if (object == NULL || pool->identity.magic != CNV_SLAB_MAGIC) return;
    if (cache != NULL && cache->previous->count == 0) {
        cache_swap(cache);
        cnv_owned_counter_add(&cache->frees, 1);
        *cache->top++ = object;
        return;
    }
    pthread_mutex_lock(&pool->lock);
    struct cnv_magazine *empty = cache != NULL ? depot_take_empty_locked(pool) : NULL;
    if (empty == NULL) {
        // No cache or no memory for a magazine: park the object on the loose list.
        struct cnv_loose_object *loose = object;
        loose->next = pool->loose;
        pool->loose = loose;
        pool->outstanding--;
        if (cache != NULL) {
            cnv_owned_counter_add(&cache->frees, 1);
            cnv_owned_counter_add(&cache->misses, 1);
        } else {
            pool->retired_frees++;
            pool->retired_misses++;
        }
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    cnv_owned_counter_add(&cache->misses, 1);
    cache_sync(cache);
    depot_put_locked(pool, cache->previous);  // full
    cache->previous = cache->loaded;          // full
    cache_load(cache, empty);
    pthread_mutex_unlock(&pool->lock);
    cnv_owned_counter_add(&cache->frees, 1);
    *cache->top++ = object;
}

static struct cnv_slab_cache *current_thread_cache(struct cnv_slab_pool *pool) {
    if (pool->identity.slot >= cnv_slab_tls_capacity) return NULL;
    struct cnv_slab_tls_entry *entry = &cnv_slab_tls_table[pool->identity.slot];
    return entry->serial == pool->identity.serial ? entry->cache : NULL;
}

static void flush_cache_locked(struct cnv_slab_pool *pool, struct cnv_slab_cache *cache) {
    cache_sync(cache);
    if (cache->loaded->count > 0) {
        struct cnv_magazine *empty = depot_take_empty_locked(pool);
        if (empty != NULL) {  // else keep the objects cached; nothing is lost
            depot_put_locked(pool, cache->loaded);
            cache_load(cache, empty);
        }
    }
    if (cache->previous->count > 0) {
        struct cnv_magazine *empty = depot_take_empty_locked(pool);
        if (empty != NULL) {
            depot_put_locked(pool, cache->previous);
            cache->previous = empty;
        }
    }
}

int cnv_slab_pool_flush_thread_cache(struct cnv_slab_pool *pool) {
    int status = cnv_slab_pool_check(pool);
    if (status != CNV_OK) return status;
    struct cnv_slab_cache *cache = current_thread_cache(pool);
    if (cache == NULL) return CNV_OK;
    pthread_mutex_lock(&pool->lock);
    flush_cache_locked(pool, cache);
    pthread_mutex_unlock(&pool->lock);
    return CNV_OK;
}

uint32_t cnv_slab_flush_thread_caches(void) {
    struct cnv_slab_tls_entry *table = cnv_slab_tls_table;
    if (table == NULL) return 0;
    // Only this thread grows its table, so its capacity and entries are stable here.
    return for_each_live_cache(table, cnv_slab_tls_capacity, flush_cache_locked);
}

// MARK: Purge

static bool slab_releasable(const struct cnv_slab *slab) {
    return slab->free_in_depot == slab->carved;
}

int cnv_slab_pool_purge(struct cnv_slab_pool *pool, uint64_t *slabs_released) {
    int status = cnv_slab_pool_check(pool);
    if (status != CNV_OK) return status;
    struct cnv_slab_cache *own = current_thread_cache(pool);
    uint64_t released = 0;
    pthread_mutex_lock(&pool->lock);
    if (own != NULL) flush_cache_locked(pool, own);

    // 1. Count each slab's objects that sit in the depot.
    for (struct cnv_magazine *m = pool->full_magazines; m != NULL; m = m->next) {
        for (uint32_t i = 0; i < m->count; i++) slab_of(pool, m->rounds[i])->free_in_depot++;
    }
    for (struct cnv_loose_object *o = pool->loose; o != NULL; o = o->next) slab_of(pool, o)->free_in_depot++;

    // 2. Drop the objects of releasable slabs from the depot.
    struct cnv_magazine **link = &pool->full_magazines;
    while (*link != NULL) {
        struct cnv_magazine *m = *link;
        uint32_t kept = 0;
        for (uint32_t i = 0; i < m->count; i++) {
            if (!slab_releasable(slab_of(pool, m->rounds[i]))) m->rounds[kept++] = m->rounds[i];
        }
        m->count = kept;
        if (kept == 0) {
            *link = m->next;
            pool->full_magazine_count--;
            m->next = pool->empty_magazines;
            pool->empty_magazines = m;
        } else {
            link = &m->next;
        }
    }
    struct cnv_loose_object **loose_link = &pool->loose;
    while (*loose_link != NULL) {
        if (slab_releasable(slab_of(pool, *loose_link))) {
            *loose_link = (*loose_link)->next;
        } else {
            loose_link = &(*loose_link)->next;
        }
    }

    // 3. Release those slabs; reset the scratch counts of the others.
    struct cnv_slab *slab = pool->slabs;
    while (slab != NULL) {
        struct cnv_slab *next = slab->next;
        if (slab_releasable(slab)) {
            if (slab->prev != NULL) slab->prev->next = slab->next;
            else pool->slabs = slab->next;
            if (slab->next != NULL) slab->next->prev = slab->prev;
            if (pool->current == slab) pool->current = NULL;
            pool->slab_count--;
            pool->slabs_released++;
            released++;
            slab_memory_release(pool, slab);
        } else {
            slab->free_in_depot = 0;
        }
        slab = next;
    }
    pthread_mutex_unlock(&pool->lock);

#ifdef CONVEYOR_JEMALLOC
    if (pool->backing == CNV_SLAB_BACKING_JEMALLOC_ARENA && released > 0) {
        char name[64];
        snprintf(name, sizeof(name), "arena.%u.purge", arena_index);
        mallctl(name, NULL, NULL, NULL, 0);
    }
#endif
    if (slabs_released != NULL) *slabs_released = released;
    return CNV_OK;
}

// MARK: Statistics

enum cnv_slab_backing cnv_slab_pool_backing(const struct cnv_slab_pool *pool) {
    return pool->backing;
}

int cnv_slab_totals_read(struct cnv_slab_totals *out) {
    if (out == NULL) return CNV_EINVAL;
    memset(out, 0, sizeof(*out));
    // registry_lock keeps every pool alive while it is read (destroy unregisters under it).
    pthread_mutex_lock(&registry_lock);
    for (uint32_t i = 0; i < registry_capacity; i++) {
        struct cnv_slab_pool *pool = registry[i];
        if (pool == NULL) continue;
        struct cnv_slab_stats stats;
        if (cnv_slab_pool_stats(pool, &stats) != CNV_OK) continue;
        uint64_t in_use = stats.objects_in_use * stats.object_size;
        out->pools++;
        out->bytes_reserved += stats.bytes_reserved;
        out->bytes_in_use += in_use;
        if (pool->backing == CNV_SLAB_BACKING_JEMALLOC_ARENA) {
            out->bytes_reserved_jemalloc += stats.bytes_reserved;
            out->bytes_in_use_jemalloc += in_use;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return CNV_OK;
}

int cnv_slab_pool_stats(struct cnv_slab_pool *pool, struct cnv_slab_stats *out) {
    int status = cnv_slab_pool_check(pool);
    if (status != CNV_OK) return status;
    if (out == NULL) return CNV_EINVAL;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&pool->lock);
    uint64_t allocations = pool->retired_allocations;
    uint64_t frees = pool->retired_frees;
    uint64_t misses = pool->retired_misses;
    for (struct cnv_slab_cache *c = pool->caches; c != NULL; c = c->next_in_pool) {
        allocations += atomic_load_explicit(&c->allocations, memory_order_relaxed);
        frees += atomic_load_explicit(&c->frees, memory_order_relaxed);
        misses += atomic_load_explicit(&c->misses, memory_order_relaxed);
    }
    out->object_size = pool->identity.object_size;
    out->slab_size = pool->slab_size;
    out->objects_per_slab = pool->objects_per_slab;
    // Owners update their counters without ordering, so a snapshot taken while threads run
    // can see a free before its allocation; clamp instead of wrapping.
    out->objects_in_use = allocations >= frees ? allocations - frees : 0;
    out->peak_objects_outstanding = pool->peak_outstanding;
    out->slabs = pool->slab_count;
    out->bytes_reserved = pool->slab_count * pool->slab_size + pool->magazine_count * sizeof(struct cnv_magazine);
    out->allocations = allocations;
    out->frees = frees;
    out->magazine_misses = misses;
    out->magazine_hits = allocations + frees >= misses ? allocations + frees - misses : 0;
    out->slab_refills = pool->slab_refills;
    out->slabs_released = pool->slabs_released;
    out->depot_full_magazines = pool->full_magazine_count;
    out->thread_caches = pool->cache_count;
    pthread_mutex_unlock(&pool->lock);
    return CNV_OK;
}
