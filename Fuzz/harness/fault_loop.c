// Fault injection over a workload of the C core, in the SQLite manner: for N = 1, 2, …, the
// Nth allocation (counting every site in cnv_fault.h) fails, until a run reaches the end with
// no allocation left to fail. Built with -DCNV_FAULT_INJECTION and ASan/UBSan/LSan
// (`make fault-injection`).
//
// The workload creates rings, a parker, an overflow queue and a slab pool, moves values and
// objects through them on two threads (the second thread's cache and TLS table are more
// allocation sites), then destroys everything. Checked for every N: a failure surfaces as
// CNV_ENOMEM or NULL from the call that allocates and only when a fault was injected; an
// accepted value (an enqueue that returned CNV_OK) is drained exactly once, in order; no
// object is handed out twice; the pool's statistics balance to zero in use; nothing crashes
// or leaks (sanitizers). At the end every site must have been failed at least once.
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../../CSources/CConveyor/cnv_fault.h"
#include "cnv_mpmc_ring.h"
#include "cnv_overflow_queue.h"
#include "cnv_parker.h"
#include "cnv_slab_pool.h"
#include "cnv_spsc_ring.h"
#include "fuzz_script.h"

static _Atomic uint64_t calls;
static _Atomic uint64_t fail_at;   // 0: never
static _Atomic uint64_t injected;  // faults injected in this run
static _Atomic enum cnv_fault_site injected_site;
static uint64_t site_failed[CNV_FAULT_SITES];
static const char *site_names[CNV_FAULT_SITES] = {
    "cnv__aligned_zeroed", "slab_memory_allocate", "depot magazine", "slab pool struct",
    "pool registry", "thread TLS table", "thread cache", "overflow queue struct", "parker",
};

bool cnv_fault_fail(enum cnv_fault_site site) {
    uint64_t call = atomic_fetch_add(&calls, 1) + 1;
    if (call != atomic_load(&fail_at)) return false;
    atomic_fetch_add(&injected, 1);
    atomic_store(&injected_site, site);
    return true;
}

#define OBJECTS 300

static struct cnv_slab_pool *pool;
static void *objects[OBJECTS];

/// Allocates and frees OBJECTS objects twice (magazine exchanges, slab refills, a thread
/// cache); returns how many allocations failed.
static void *slab_churn(void *unused) {
    (void)unused;
    uintptr_t failures = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < OBJECTS; i++) {
            objects[i] = cnv_slab_alloc(pool);
            if (objects[i] == NULL) failures++;
            for (int j = 0; j < i && objects[i] != NULL; j++) {
                FUZZ_CHECK(objects[j] != objects[i], "object %p handed out twice", objects[i]);
            }
            if (objects[i] != NULL) memset(objects[i], 0xA5, 48);
        }
        for (int i = 0; i < OBJECTS; i++) {
            if (objects[i] != NULL) cnv_slab_free(pool, objects[i]);
            objects[i] = NULL;
        }
    }
    return (void *)failures;
}

static void workload(void) {
    struct cnv_mpmc_ring *mpmc = NULL;
    if (cnv_mpmc_ring_create(64, &mpmc) == CNV_OK) {
        uintptr_t value = 0;
        for (uintptr_t i = 1; i <= 100; i++) (void)cnv_mpmc_try_enqueue(mpmc, i);
        uintptr_t expected = 1;
        while (cnv_mpmc_try_dequeue(mpmc, &value)) FUZZ_CHECK(value == expected++, "mpmc order");
        FUZZ_CHECK(expected == 65, "mpmc held %lu", (unsigned long)(expected - 1));
        cnv_mpmc_ring_destroy(mpmc);
    } else {
        FUZZ_CHECK(mpmc == NULL && atomic_load(&injected) > 0, "mpmc create failed with no fault");
    }
    struct cnv_spsc_ring *spsc = NULL;
    if (cnv_spsc_ring_create(64, &spsc) == CNV_OK) {
        cnv_spsc_ring_destroy(spsc);
    } else {
        FUZZ_CHECK(spsc == NULL && atomic_load(&injected) > 0, "spsc create failed with no fault");
    }
    struct cnv_parker *parker = NULL;
    if (cnv_parker_create(&parker) == CNV_OK) {
        (void)cnv_parker_unpark(parker, 1);
        cnv_parker_destroy(parker);
    } else {
        FUZZ_CHECK(atomic_load(&injected) > 0, "parker create failed with no fault");
    }

    struct cnv_overflow_queue *queue = NULL;
    int status = cnv_overflow_queue_create(CNV_SLAB_BACKING_MMAP, &queue);
    if (status == CNV_OK) {
        static uintptr_t accepted[2000], drained[2000];
        size_t accepted_count = 0;
        for (uintptr_t i = 1; i <= 1500; i++) {
            int result = cnv_overflow_queue_enqueue(queue, i);
            if (result == CNV_OK) {
                accepted[accepted_count++] = i;
            } else {
                FUZZ_CHECK(result == CNV_ENOMEM && atomic_load(&injected) > 0, "enqueue %d with no fault", result);
            }
        }
        size_t taken = 0, total = 0;
        do {
            FUZZ_CHECK(cnv_overflow_queue_drain(queue, drained + total, 2000 - total, &taken) == CNV_OK, "drain");
            total += taken;
        } while (taken > 0);
        FUZZ_CHECK(total == accepted_count, "accepted %zu, drained %zu", accepted_count, total);
        for (size_t i = 0; i < total; i++) FUZZ_CHECK(drained[i] == accepted[i], "drain order at %zu", i);
        cnv_overflow_queue_destroy(queue);
    } else {
        FUZZ_CHECK(status == CNV_ENOMEM && queue == NULL && atomic_load(&injected) > 0, "queue create %d", status);
    }

    status = cnv_slab_pool_create(48, CNV_SLAB_BACKING_MMAP, &pool);
    if (status != CNV_OK) {
        FUZZ_CHECK(status == CNV_ENOMEM && pool == NULL && atomic_load(&injected) > 0, "pool create %d", status);
        return;
    }
    uintptr_t failures = (uintptr_t)slab_churn(NULL);
    pthread_t thread;
    FUZZ_CHECK(pthread_create(&thread, NULL, slab_churn, NULL) == 0, "pthread_create");
    void *thread_failures = NULL;
    pthread_join(thread, &thread_failures);  // its exit destructor retires its cache
    failures += (uintptr_t)thread_failures;
    FUZZ_CHECK(failures == 0 || atomic_load(&injected) > 0, "%lu allocations failed with no fault",
               (unsigned long)failures);
    struct cnv_slab_stats stats;
    FUZZ_CHECK(cnv_slab_pool_stats(pool, &stats) == CNV_OK, "stats");
    FUZZ_CHECK(stats.objects_in_use == 0, "%llu objects in use after freeing all", (unsigned long long)stats.objects_in_use);
    FUZZ_CHECK(stats.allocations == stats.frees, "allocations %llu, frees %llu", (unsigned long long)stats.allocations,
               (unsigned long long)stats.frees);
    uint64_t released = 0;
    FUZZ_CHECK(cnv_slab_pool_purge(pool, &released) == CNV_OK, "purge");
    cnv_slab_pool_destroy(pool);
    pool = NULL;
}

int main(void) {
    uint64_t n;
    for (n = 1;; n++) {
        atomic_store(&calls, 0);
        atomic_store(&injected, 0);
        atomic_store(&fail_at, n);
        workload();
        if (atomic_load(&injected) == 0) break;  // the run had fewer than n allocations
        site_failed[atomic_load(&injected_site)]++;
    }
    printf("fault injection: %llu allocation calls in the workload, each failed once\n", (unsigned long long)(n - 1));
    int missing = 0;
    for (int site = 0; site < CNV_FAULT_SITES; site++) {
        printf("  %-22s failed %llu times\n", site_names[site], (unsigned long long)site_failed[site]);
        if (site_failed[site] == 0) missing++;
    }
    FUZZ_CHECK(missing == 0, "%d allocation sites were never failed", missing);
    return 0;
}
