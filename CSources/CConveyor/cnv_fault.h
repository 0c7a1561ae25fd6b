// Fault injection at the C core's allocation sites, in the SQLite manner: compiled in only
// with -DCNV_FAULT_INJECTION (Fuzz/harness/fault_loop.c, `make fault-injection`); otherwise
// every CNV_FAULT(site) is the constant false and costs nothing. A private header: Swift
// never sees it.
//
// Each site asks CNV_FAULT(site) right before it allocates and behaves as if the allocation
// failed when the answer is true. The driver defines cnv_fault_fail: it counts the calls of
// every site and fails the Nth, for every N over a workload.
#ifndef CNV_FAULT_H
#define CNV_FAULT_H

#include <stdbool.h>

enum cnv_fault_site {
    CNV_FAULT_ALIGNED_ZEROED = 0,  // cnv__aligned_zeroed: ring structs and slot arrays
    CNV_FAULT_SLAB_MEMORY,         // slab_memory_allocate: a slab (mmap or jemalloc arena)
    CNV_FAULT_MAGAZINE,            // depot_take_empty_locked: a new magazine
    CNV_FAULT_POOL,                // cnv_slab_pool_create: the pool struct
    CNV_FAULT_REGISTRY,            // registry_insert_locked: growing the table of live pools
    CNV_FAULT_TLS_TABLE,           // tls_table_reserve: a thread's table of caches (first or grown)
    CNV_FAULT_THREAD_CACHE,        // cnv_slab__attach_cache: a thread's cache for one pool
    CNV_FAULT_OVERFLOW_QUEUE,      // cnv_overflow_queue_create: the queue struct
    CNV_FAULT_PARKER,              // cnv_parker_create
    CNV_FAULT_SITES
};

#ifdef CNV_FAULT_INJECTION
bool cnv_fault_fail(enum cnv_fault_site site);
#define CNV_FAULT(site) cnv_fault_fail(site)
#else
#define CNV_FAULT(site) false
#endif

#endif  // CNV_FAULT_H
