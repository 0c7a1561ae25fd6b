// libFuzzer harness: the slab pool (cnv_slab_pool.{h,c}) against a model of live objects.
//
// Three threads use one pool: the fuzzing thread and two helpers (fuzz_helpers.h), so
// objects are allocated on one thread and freed on another through real per-thread
// magazines, the depot trades magazines between them, and a helper can exit (its cache is
// retired into the depot by the TLS destructor) and be replaced. The script picks the object
// size (including sizes the pool must refuse), then operations: allocate one or a burst,
// free one or a burst (any live object, on any thread), flush a thread's cache, purge,
// statistics, replace a helper. Pools are kept across inputs (KEPT_POOLS below). Only one input in FUZZ_THREADED_ONE_IN (fuzz_helpers.h) runs
// the helpers' commands on the helper threads; the others run them on the fuzzing thread
// (same script, one thread cache), so the pool's single-thread paths are fuzzed at a
// hand-off-free speed and the cross-thread paths in the threaded inputs.
//
// Checked: no object is handed out twice while live (a hash set of live addresses); objects
// are 16-byte aligned, inside their slab, and keep the bytes written into them until freed
// (no overlap with another object, no reuse while live, purge never releases a slab that
// holds a live object); the statistics balance exactly against the model once the threads
// are quiescent (allocations, frees, objects in use, caches, slabs = refills − released, the
// peak bound); and at the end, after every object is freed and every cache flushed, purge
// releases every slab.
#include <string.h>

#include "cnv_slab_pool.h"
#include "fuzz_helpers.h"
#include "fuzz_script.h"

#define MAX_LIVE 512
#define MAX_LIVE_BYTES ((size_t)1 << 20)
#define SET_SIZE 4096  // power of two, > 2 × MAX_LIVE
#define HELPERS 2

struct live_object {
    unsigned char *address;
    uint64_t tag;
};

static struct live_object live[MAX_LIVE];
static size_t live_count;
static unsigned char *live_set[SET_SIZE];  // open addressing; tombstones are (void *)1
static uint64_t model_allocations, model_frees, model_peak_live;
static uint64_t next_tag;
static struct fuzz_helper helpers[HELPERS];
static bool threaded;  // this input uses the helper threads (fuzz_input_threaded)
static bool *thread_used;  // has the thread a cache for this pool (the pool's entry below)
static bool touched[HELPERS + 1];  // did the thread use the pool in this input
static struct cnv_slab_pool *pool;
static size_t object_size;

/// Pools kept across inputs, one per rounded object size (least recently used evicted): a
/// fresh pool per input spent most of the time in the kernel (page faults on new slabs, the
/// final purge's munmap). An input on a kept pool starts from its leftover slabs, depot and
/// thread caches (the statistics are checked against a baseline read at the start) and ends
/// with every object freed and every cache it used flushed; the full end check (purge then
/// releases every slab) runs on a fresh pool in one input in FRESH_ONE_IN (by the input's
/// hash) and when a kept pool is evicted.
#define KEPT_POOLS 32
#define FRESH_ONE_IN 16

struct kept_pool {
    struct cnv_slab_pool *pool;
    size_t rounded_size;
    uint64_t last_used;
    bool thread_used[HELPERS + 1];
};

static struct kept_pool kept[KEPT_POOLS];
static uint64_t input_number;
static bool fresh_thread_used[HELPERS + 1];

#define TOMBSTONE ((unsigned char *)1)

static size_t set_home(const unsigned char *address) {
    return (size_t)(((uintptr_t)address >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 50) & (SET_SIZE - 1);
}

static bool set_contains(const unsigned char *address) {
    for (size_t i = set_home(address);; i = (i + 1) & (SET_SIZE - 1)) {
        if (live_set[i] == NULL) return false;
        if (live_set[i] == address) return true;
    }
}

static void set_insert(unsigned char *address) {
    size_t i = set_home(address);
    while (live_set[i] != NULL && live_set[i] != TOMBSTONE) i = (i + 1) & (SET_SIZE - 1);
    live_set[i] = address;
}

static void set_remove(const unsigned char *address) {
    for (size_t i = set_home(address);; i = (i + 1) & (SET_SIZE - 1)) {
        FUZZ_CHECK(live_set[i] != NULL, "live object %p missing from the set", (const void *)address);
        if (live_set[i] == address) {
            live_set[i] = TOMBSTONE;
            return;
        }
    }
}

/// The bytes an object holds while live: its tag at every 8-byte word up to 256 bytes, then
/// at every 256th byte and in its last word (large objects stay cheap to check). Not
/// coverage-instrumented: the harness's own loops would only slow the fuzzer down.
#define TAGGED_WORD(w, words) ((w) < 32 ? (w) + 1 : (w) + 32 < (words) ? (w) + 32 : (w) + 1 < (words) ? (words) - 1 : (words))

__attribute__((no_sanitize("coverage"))) static void fill(unsigned char *address, uint64_t tag) {
    size_t words = object_size / 8;
    for (size_t w = 0; w < words; w = TAGGED_WORD(w, words)) memcpy(address + w * 8, &tag, 8);
    for (size_t b = words * 8; b < object_size; b++) address[b] = (unsigned char)tag;
}

__attribute__((no_sanitize("coverage"))) static void verify(const unsigned char *address, uint64_t tag) {
    size_t words = object_size / 8;
    for (size_t w = 0; w < words; w = TAGGED_WORD(w, words)) {
        uint64_t found;
        memcpy(&found, address + w * 8, 8);
        FUZZ_CHECK(found == tag, "object %p word %zu holds %llx, expected tag %llx: overwritten while live",
                   (const void *)address, w, (unsigned long long)found, (unsigned long long)tag);
    }
    for (size_t b = words * 8; b < object_size; b++) {
        FUZZ_CHECK(address[b] == (unsigned char)tag, "object %p tail byte %zu overwritten", (const void *)address, b);
    }
}

// MARK: Commands (run on the chosen thread)

struct batch {
    size_t count;
    unsigned char *objects[160];
};

static void do_allocate(void *raw) {
    struct batch *batch = raw;
    for (size_t i = 0; i < batch->count; i++) batch->objects[i] = cnv_slab_alloc(pool);
}

static void do_free(void *raw) {
    struct batch *batch = raw;
    for (size_t i = 0; i < batch->count; i++) cnv_slab_free(pool, batch->objects[i]);
}

static void do_flush(void *raw) {
    int *status = raw;
    *status = cnv_slab_pool_flush_thread_cache(pool);
}

struct purge_result {
    int status;
    uint64_t released;
};

static void do_purge(void *raw) {
    struct purge_result *result = raw;
    result->status = cnv_slab_pool_purge(pool, &result->released);
}

static void run_on(int thread, fuzz_command command, void *argument) {
    if (thread == 0) {
        command(argument);
    } else {
        fuzz_helper_run(&helpers[thread - 1], command, argument);
    }
}

// MARK: Model updates

static void allocate_on(int thread, size_t count) {
    // At most MAX_LIVE objects and MAX_LIVE_BYTES of them: large objects are written into,
    // so their pages are resident (an unbounded script would only hit libFuzzer's RSS limit).
    size_t limit = MAX_LIVE_BYTES / object_size < MAX_LIVE ? MAX_LIVE_BYTES / object_size : MAX_LIVE;
    if (count > limit - (live_count < limit ? live_count : limit)) count = limit - (live_count < limit ? live_count : limit);
    static struct batch batch;
    batch.count = count;
    run_on(thread, do_allocate, &batch);
    if (count > 0) thread_used[thread] = touched[thread] = true;  // the first call attaches a cache
    for (size_t i = 0; i < count; i++) {
        unsigned char *object = batch.objects[i];
        FUZZ_CHECK(object != NULL, "allocation failed with %zu live objects", live_count);
        FUZZ_CHECK(((uintptr_t)object & 15) == 0, "object %p not 16-byte aligned", (void *)object);
        FUZZ_CHECK(!set_contains(object), "object %p handed out twice (it is live)", (void *)object);
        set_insert(object);
        uint64_t tag = ++next_tag * UINT64_C(0x9E3779B97F4A7C15);
        fill(object, tag);
        live[live_count].address = object;
        live[live_count].tag = tag;
        live_count++;
        model_allocations++;
    }
    if (live_count > model_peak_live) model_peak_live = live_count;
}

static void free_on(int thread, size_t count, uint32_t pick) {
    if (count > live_count) count = live_count;
    if (count > 160) count = 160;
    static struct batch batch;
    batch.count = count;
    for (size_t i = 0; i < count; i++) {
        size_t index = (pick + i * 7919) % live_count;
        struct live_object object = live[index];
        verify(object.address, object.tag);
        set_remove(object.address);
        live[index] = live[--live_count];
        batch.objects[i] = object.address;
        model_frees++;
    }
    run_on(thread, do_free, &batch);
    if (count > 0) thread_used[thread] = touched[thread] = true;
}

static void check_stats(void) {
    struct cnv_slab_stats stats;
    FUZZ_CHECK(cnv_slab_pool_stats(pool, &stats) == CNV_OK, "stats");
    FUZZ_CHECK(stats.allocations == model_allocations, "allocations %llu, model %llu",
               (unsigned long long)stats.allocations, (unsigned long long)model_allocations);
    FUZZ_CHECK(stats.frees == model_frees, "frees %llu, model %llu", (unsigned long long)stats.frees,
               (unsigned long long)model_frees);
    FUZZ_CHECK(stats.objects_in_use == live_count, "in use %llu, model %zu",
               (unsigned long long)stats.objects_in_use, live_count);
    FUZZ_CHECK(stats.peak_objects_outstanding >= model_peak_live, "peak %llu below the model's peak %llu",
               (unsigned long long)stats.peak_objects_outstanding, (unsigned long long)model_peak_live);
    FUZZ_CHECK(stats.slabs == stats.slab_refills - stats.slabs_released, "slabs %llu, refills %llu, released %llu",
               (unsigned long long)stats.slabs, (unsigned long long)stats.slab_refills,
               (unsigned long long)stats.slabs_released);
    FUZZ_CHECK(stats.slabs * stats.objects_per_slab >= live_count, "%llu slabs cannot hold %zu objects",
               (unsigned long long)stats.slabs, live_count);
    FUZZ_CHECK(stats.bytes_reserved >= stats.slabs * stats.slab_size, "bytes reserved below the slabs");
    FUZZ_CHECK(stats.magazine_misses <= stats.allocations + stats.frees, "more misses than operations");
    FUZZ_CHECK(stats.magazine_hits + stats.magazine_misses == stats.allocations + stats.frees, "hits + misses");
    FUZZ_CHECK(stats.object_size == ((object_size + 15) & ~(size_t)15), "object size %llu for %zu",
               (unsigned long long)stats.object_size, object_size);
    uint64_t caches = 0;
    for (int t = 0; t <= HELPERS; t++) caches += thread_used[t];
    FUZZ_CHECK(stats.thread_caches == caches, "%llu thread caches, model %llu", (unsigned long long)stats.thread_caches,
               (unsigned long long)caches);
}

static void purge_on(int thread) {
    struct cnv_slab_stats before, after;
    FUZZ_CHECK(cnv_slab_pool_stats(pool, &before) == CNV_OK, "stats");
    struct purge_result result = {0};
    run_on(thread, do_purge, &result);
    FUZZ_CHECK(result.status == CNV_OK, "purge %d", result.status);
    FUZZ_CHECK(cnv_slab_pool_stats(pool, &after) == CNV_OK, "stats");
    FUZZ_CHECK(after.slabs + result.released == before.slabs, "purge released %llu: %llu -> %llu slabs",
               (unsigned long long)result.released, (unsigned long long)before.slabs, (unsigned long long)after.slabs);
    FUZZ_CHECK(after.slabs_released == before.slabs_released + result.released, "slabs_released");
    // A released slab holding a live object would fault here (munmap) or fail the tags.
    for (size_t i = 0; i < live_count; i++) verify(live[i].address, live[i].tag);
}

static void restart_helper(int index) {
    fuzz_helper_stop(&helpers[index]);  // its caches (of every pool) go back to their depots
    thread_used[index + 1] = false;
    for (int k = 0; k < KEPT_POOLS; k++) kept[k].thread_used[index + 1] = false;
    fuzz_helper_start(&helpers[index]);
}

static void check_refusals(uint8_t kind) {
    struct cnv_slab_pool *refused = (struct cnv_slab_pool *)1;
    int status;
    switch (kind % 4) {
    case 0: status = cnv_slab_pool_create(0, CNV_SLAB_BACKING_MMAP, &refused); break;
    case 1: status = cnv_slab_pool_create(CNV_SLAB_MAX_OBJECT_SIZE + 1, CNV_SLAB_BACKING_MMAP, &refused); break;
    case 2: status = cnv_slab_pool_create(64, (enum cnv_slab_backing)7, &refused); break;
    default: status = cnv_slab_pool_create(64, CNV_SLAB_BACKING_JEMALLOC_ARENA, &refused); break;
    }
    int expected = kind % 4 == 3 ? (cnv_slab_jemalloc_available() ? CNV_OK : CNV_ENOTSUP) : CNV_EINVAL;
    FUZZ_CHECK(status == expected, "refusal case %d gave %d, expected %d", kind % 4, status, expected);
    if (status == CNV_OK) {
        cnv_slab_pool_destroy(refused);
    } else {
        FUZZ_CHECK(refused == NULL, "out not cleared on refusal");
    }
}

/// At exit the helpers leave like any thread: their TLS destructors hand their caches back
/// and free their tables before LeakSanitizer looks.
static void stop_helpers(void) {
    for (int i = 0; i < HELPERS; i++) fuzz_helper_stop(&helpers[i]);
}

/// The thread a script's thread number names in this input (0 unless it is threaded).
static int thread_for(int thread) {
    return threaded ? thread : 0;
}

/// Everything freed (spread over the threads) and every cache this input used flushed: the
/// statistics must then show no object in use.
static void free_everything(void) {
    while (live_count > 0) free_on(thread_for((int)(live_count % (HELPERS + 1))), 97, (uint32_t)live_count);
    for (int t = 0; t <= HELPERS; t++) {
        if (!touched[t]) continue;  // not used in this input: its cache was flushed before
        int status = -100;
        run_on(t, do_flush, &status);
        FUZZ_CHECK(status == CNV_OK, "flush %d", status);
    }
    check_stats();
}

/// The end check of a pool with every object freed and every thread's cache flushed: purge
/// must find every object in the depot and release every slab. Then the pool is destroyed.
static void purge_all_and_destroy(void) {
    purge_on(0);
    struct cnv_slab_stats stats;
    FUZZ_CHECK(cnv_slab_pool_stats(pool, &stats) == CNV_OK, "stats");
    FUZZ_CHECK(stats.slabs == 0, "%llu slabs kept after everything was freed, flushed and purged",
               (unsigned long long)stats.slabs);
    cnv_slab_pool_destroy(pool);
    pool = NULL;
}

/// The kept pool for `object_size` (created on a miss, evicting the least recently used).
static struct kept_pool *kept_pool_for(size_t size) {
    size_t rounded = (size + 15) & ~(size_t)15;
    struct kept_pool *victim = &kept[0];
    for (int k = 0; k < KEPT_POOLS; k++) {
        if (kept[k].pool != NULL && kept[k].rounded_size == rounded) return &kept[k];
        if (kept[k].pool == NULL || (victim->pool != NULL && kept[k].last_used < victim->last_used)) victim = &kept[k];
    }
    if (victim->pool != NULL) {
        // Evicted: it ended its last input with everything freed and flushed (threads that
        // used it flushed their caches then), so the full end check applies.
        pool = victim->pool;
        object_size = victim->rounded_size;
        thread_used = victim->thread_used;
        memset(touched, 0, sizeof(touched));
        struct cnv_slab_stats stats;
        FUZZ_CHECK(cnv_slab_pool_stats(pool, &stats) == CNV_OK, "stats");
        FUZZ_CHECK(stats.objects_in_use == 0, "an evicted pool has %llu objects in use", (unsigned long long)stats.objects_in_use);
        purge_all_and_destroy();
        object_size = size;
    }
    FUZZ_CHECK(cnv_slab_pool_create(size, CNV_SLAB_BACKING_MMAP, &victim->pool) == CNV_OK, "create %zu", size);
    victim->rounded_size = rounded;
    memset(victim->thread_used, 0, sizeof(victim->thread_used));
    return victim;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool started;
    threaded = fuzz_input_threaded(data, size);
    bool fresh = fuzz_input_hash(data, size) % FRESH_ONE_IN == 0;
    if (threaded && !started) {
        for (int i = 0; i < HELPERS; i++) fuzz_helper_start(&helpers[i]);
        atexit(stop_helpers);
        started = true;
    }
    struct fuzz_script script = fuzz_script_make(data, size);
    uint8_t shape = fuzz_u8(&script);
    if (shape >= 0xFC) {
        check_refusals(shape);
        return 0;
    }
    if (shape >= 0xF0) {
        // Large objects: up to the 1 MiB limit (slabs of several MiB).
        object_size = 1 + (size_t)fuzz_u16(&script) * 16;
        if (object_size > CNV_SLAB_MAX_OBJECT_SIZE) object_size = CNV_SLAB_MAX_OBJECT_SIZE;
    } else {
        object_size = 1 + (size_t)shape * 2;  // 1 … 479 bytes
    }
    live_count = 0;
    memset(live_set, 0, sizeof(live_set));
    model_peak_live = 0;
    memset(touched, 0, sizeof(touched));
    if (fresh) {
        FUZZ_CHECK(cnv_slab_pool_create(object_size, CNV_SLAB_BACKING_MMAP, &pool) == CNV_OK, "create %zu", object_size);
        memset(fresh_thread_used, 0, sizeof(fresh_thread_used));
        thread_used = fresh_thread_used;
        model_allocations = model_frees = 0;
    } else {
        struct kept_pool *entry = kept_pool_for(object_size);
        entry->last_used = ++input_number;
        pool = entry->pool;
        thread_used = entry->thread_used;
        // The baseline: what earlier inputs did with this pool; nothing of it is in use.
        struct cnv_slab_stats stats;
        FUZZ_CHECK(cnv_slab_pool_stats(pool, &stats) == CNV_OK, "stats");
        FUZZ_CHECK(stats.objects_in_use == 0, "a kept pool starts with %llu objects in use",
                   (unsigned long long)stats.objects_in_use);
        model_allocations = stats.allocations;
        model_frees = stats.frees;
        check_stats();
    }

    while (!fuzz_script_done(&script)) {
        uint8_t op = fuzz_u8(&script);
        uint8_t argument = fuzz_u8(&script);
        int thread = thread_for((op >> 4) % (HELPERS + 1));
        switch (op % 8) {
        case 0: allocate_on(thread, 1); break;
        case 1: free_on(thread, 1, argument * 31u + (uint32_t)script.at); break;
        case 2: allocate_on(thread, argument % 150); break;
        case 3: free_on(thread, argument % 150, (uint32_t)script.at * 131u); break;
        case 4: {
            int status = -100;
            run_on(thread, do_flush, &status);
            FUZZ_CHECK(status == CNV_OK, "flush %d", status);
            break;
        }
        case 5:
            // A purge in one of four of these ops (the argument picks): each purge unmaps the
            // empty slabs and the next allocations fault fresh pages in, which was most of
            // the harness's time (page faults and munmap) at one purge in eight ops.
            if (argument % 4 == 0) purge_on(thread);
            else check_stats();
            break;
        case 6: check_stats(); break;
        default:
            if (thread > 0) restart_helper(thread - 1);
            else check_stats();
            break;
        }
    }
    check_stats();
    free_everything();
    if (fresh) purge_all_and_destroy();
    pool = NULL;
    return 0;
}
