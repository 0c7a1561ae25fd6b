#include "cnv_allocator.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CONVEYOR_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

void *cnv_jemalloc__alloc(size_t size) {
#ifdef CONVEYOR_JEMALLOC
    return mallocx(size, 0);
#else
    (void)size;
    return NULL;
#endif
}

void cnv_jemalloc__free(void *pointer, size_t size) {
#ifdef CONVEYOR_JEMALLOC
    sdallocx(pointer, size, 0);
#else
    (void)pointer;
    (void)size;
#endif
}

int cnv_allocator_init(struct cnv_allocator *out, enum cnv_allocator_kind kind, size_t object_size) {
    if (out == NULL) return CNV_EINVAL;
    memset(out, 0, sizeof(*out));
    if (object_size == 0 || object_size > CNV_SLAB_MAX_OBJECT_SIZE) return CNV_EINVAL;
    out->object_size = object_size;
    switch (kind) {
    case CNV_ALLOCATOR_GLIBC:
    case CNV_ALLOCATOR_PROCESS: break;
    case CNV_ALLOCATOR_JEMALLOC:
        if (!cnv_slab_jemalloc_available()) return CNV_ENOTSUP;
        break;
    case CNV_ALLOCATOR_SLAB: {
        enum cnv_slab_backing backing =
            cnv_slab_jemalloc_available() ? CNV_SLAB_BACKING_JEMALLOC_ARENA : CNV_SLAB_BACKING_MMAP;
        int status = cnv_slab_pool_create(object_size, backing, &out->pool);
        if (status != CNV_OK) return status;
        break;
    }
    default: return CNV_EINVAL;
    }
    out->kind = (int32_t)kind;
    return CNV_OK;
}

void cnv_allocator_destroy(struct cnv_allocator *allocator) {
    if (allocator == NULL) return;
    if (allocator->kind == CNV_ALLOCATOR_SLAB && allocator->pool != NULL) {
        cnv_slab_pool_destroy(allocator->pool);
        allocator->pool = NULL;
    }
}

uint64_t cnv_memory_rss_bytes(void) {
    FILE *file = fopen("/proc/self/statm", "r");
    if (file == NULL) return 0;
    unsigned long long size = 0, resident = 0;
    int fields = fscanf(file, "%llu %llu", &size, &resident);
    fclose(file);
    if (fields != 2) return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

#ifdef CONVEYOR_JEMALLOC
static uint64_t read_size_stat(const char *name) {
    size_t value = 0;
    size_t length = sizeof(value);
    if (mallctl(name, &value, &length, NULL, 0) != 0) return 0;
    return (uint64_t)value;
}
#endif

int cnv_memory_stats_read(struct cnv_memory_stats *out) {
    if (out == NULL) return CNV_EINVAL;
    memset(out, 0, sizeof(*out));
    out->rss = cnv_memory_rss_bytes();
#ifdef CONVEYOR_JEMALLOC
    // jemalloc caches its statistics; bumping the epoch refreshes them.
    uint64_t epoch = 1;
    size_t length = sizeof(epoch);
    mallctl("epoch", &epoch, &length, &epoch, length);
    out->jemalloc_available = true;
    out->allocated = read_size_stat("stats.allocated");
    out->active = read_size_stat("stats.active");
    out->resident = read_size_stat("stats.resident");
    out->mapped = read_size_stat("stats.mapped");
#endif
    return CNV_OK;
}

int cnv_memory_thread_allocated(uint64_t *out) {
    if (out == NULL) return CNV_EINVAL;
    *out = 0;
#ifdef CONVEYOR_JEMALLOC
    uint64_t value = 0;
    size_t length = sizeof(value);
    if (mallctl("thread.allocated", &value, &length, NULL, 0) != 0) return CNV_ENOTSUP;
    *out = value;
    return CNV_OK;
#else
    return CNV_ENOTSUP;
#endif
}

int cnv_memory_release_to_os(void) {
#ifdef CONVEYOR_JEMALLOC
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    // MALLCTL_ARENAS_ALL (4096) addresses every arena at once.
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    return mallctl(name, NULL, NULL, NULL, 0) == 0 ? CNV_OK : CNV_ENOTSUP;
#else
    return CNV_ENOTSUP;
#endif
}

// Defined by the sanitizer runtimes (TSan, ASan), which replace malloc: weak, so it is NULL
// in ordinary builds.
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

uint64_t cnv_memory_malloc_heap_bytes(void) {
    if (__sanitizer_get_current_allocated_bytes) return (uint64_t)__sanitizer_get_current_allocated_bytes();
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
#else
    return 0;
#endif
}
