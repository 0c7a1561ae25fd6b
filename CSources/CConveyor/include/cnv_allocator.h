// The allocator seam: the same fixed-size alloc/free calls over glibc malloc, jemalloc, the
// slab pool and the process's own malloc, so benchmarks and the engine can run one workload
// on each. Also process memory statistics (jemalloc counters and RSS).
#ifndef CNV_ALLOCATOR_H
#define CNV_ALLOCATOR_H

#include <stdlib.h>

#include "cnv_common.h"
#include "cnv_slab_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cnv_allocator_kind {
    /// glibc's own allocator through __libc_malloc/__libc_free, even when jemalloc is linked
    /// and has replaced `malloc`.
    CNV_ALLOCATOR_GLIBC = 0,
    /// jemalloc's mallocx/sdallocx on its default arenas with the thread cache (its fast path).
    CNV_ALLOCATOR_JEMALLOC = 1,
    /// A Conveyor slab pool.
    CNV_ALLOCATOR_SLAB = 2,
    /// Plain `malloc`/`free`: whatever allocator the process uses. That is glibc, jemalloc
    /// when the Jemalloc trait links it, or an allocator that LD_PRELOAD put in front
    /// (mimalloc, tcmalloc, ...), which the GLIBC kind would bypass.
    CNV_ALLOCATOR_PROCESS = 3,
};

/// A fixed-size allocator. Plain data: Swift can build one and pass it by pointer.
struct cnv_allocator {
    int32_t kind;
    uint32_t reserved;
    uint64_t object_size;
    struct cnv_slab_pool *pool;
};

/// Fills `*out` for `kind`. A slab allocator creates its own pool (destroy it with
/// `cnv_allocator_destroy`). CNV_ENOTSUP for jemalloc without the Jemalloc trait.
/// CNV_EINVAL for an unknown kind or an object size of 0 or above CNV_SLAB_MAX_OBJECT_SIZE.
int cnv_allocator_init(struct cnv_allocator *out, enum cnv_allocator_kind kind, size_t object_size);
void cnv_allocator_destroy(struct cnv_allocator *allocator);

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *pointer);
void *cnv_jemalloc__alloc(size_t size);
void cnv_jemalloc__free(void *pointer, size_t size);

static inline void *cnv_allocator_alloc(const struct cnv_allocator *allocator) {
    switch (allocator->kind) {
    case CNV_ALLOCATOR_SLAB: return cnv_slab_alloc(allocator->pool);
    case CNV_ALLOCATOR_JEMALLOC: return cnv_jemalloc__alloc((size_t)allocator->object_size);
    case CNV_ALLOCATOR_PROCESS: return malloc((size_t)allocator->object_size);
    default: return __libc_malloc((size_t)allocator->object_size);
    }
}

static inline void cnv_allocator_free(const struct cnv_allocator *allocator, void *pointer) {
    switch (allocator->kind) {
    case CNV_ALLOCATOR_SLAB: cnv_slab_free(allocator->pool, pointer); break;
    case CNV_ALLOCATOR_JEMALLOC: cnv_jemalloc__free(pointer, (size_t)allocator->object_size); break;
    case CNV_ALLOCATOR_PROCESS: free(pointer); break;
    default: __libc_free(pointer); break;
    }
}

/// Process memory figures. jemalloc fields are 0 and `jemalloc_available` false without the
/// Jemalloc trait.
struct cnv_memory_stats {
    bool jemalloc_available;
    /// jemalloc stats.allocated / active / resident / mapped, refreshed by an epoch bump.
    uint64_t allocated;
    uint64_t active;
    uint64_t resident;
    uint64_t mapped;
    /// Resident set size from /proc/self/statm.
    uint64_t rss;
};

int cnv_memory_stats_read(struct cnv_memory_stats *out);
/// Resident set size in bytes (0 if /proc is unreadable).
uint64_t cnv_memory_rss_bytes(void);
/// Bytes the calling thread has allocated through jemalloc so far (thread.allocated), which
/// counts mallocx too (unlike a malloc interposer). CNV_ENOTSUP without jemalloc.
int cnv_memory_thread_allocated(uint64_t *out);
/// Bytes in use from malloc when jemalloc is not linked: glibc's `mallinfo2` (arena bytes in
/// use plus mmapped chunks), or the sanitizer allocator's count under TSan/ASan.
uint64_t cnv_memory_malloc_heap_bytes(void);
/// Flushes the calling thread's jemalloc cache and purges every arena's dirty pages.
int cnv_memory_release_to_os(void);

#ifdef __cplusplus
}
#endif

#endif  // CNV_ALLOCATOR_H
