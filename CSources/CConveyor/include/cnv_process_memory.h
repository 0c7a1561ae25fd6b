// Process memory figures that the jemalloc statistics in cnv_allocator.h do not cover: the
// glibc heap (when jemalloc is not linked), the peak resident set size, and returning free
// glibc heap pages to the OS. Used by MemoryOptimizer; all cold paths.
#ifndef CNV_PROCESS_MEMORY_H
#define CNV_PROCESS_MEMORY_H

#include "cnv_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Bytes the application holds in glibc malloc allocations (mallinfo2: in-use chunks plus
/// mmapped chunks). Meaningless when another allocator replaced malloc (jemalloc, a sanitizer):
/// then it only covers what still goes through glibc's own arenas.
uint64_t cnv_memory_glibc_heap_allocated(void);
/// Returns free glibc heap pages to the OS (malloc_trim(0)). True when memory was released.
bool cnv_memory_glibc_trim(void);
/// Bytes jemalloc holds in thread caches (stats.arenas.<all>.tcache_bytes, as of the last
/// epoch bump, which cnv_memory_stats_read does). They count in stats.allocated although no
/// application object uses them. CNV_ENOTSUP without jemalloc.
int cnv_memory_jemalloc_tcache_bytes(uint64_t *out);
/// Peak resident set size in bytes (VmHWM from /proc/self/status, else getrusage ru_maxrss).
uint64_t cnv_memory_peak_rss_bytes(void);

#ifdef __cplusplus
}
#endif

#endif  // CNV_PROCESS_MEMORY_H
