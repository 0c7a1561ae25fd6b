// libFuzzer harness: a ring against a model FIFO, built twice (Fuzz/run.sh): the MPMC ring
// (cnv_mpmc_ring.h) by default, the SPSC ring (cnv_spsc_ring.h) with -DFUZZ_RING_SPSC. Both
// rings share one API shape, so one script and one model check them both.
//
// Script: one byte picks the capacity (2 … 1024, or an arbitrary 64-bit capacity that must be
// refused unless valid), one byte says whether the positions start just below 2^64 (so the
// script crosses the 64-bit wrap of head and tail, which the sequence arithmetic must
// survive), then operations of two bytes (op, argument): single, burst and bulk enqueue and
// dequeue interleaved, and count reads. Every result is compared with the model: how many
// values an operation moved, their FIFO order, and that nothing past the returned count of
// the caller's buffer was written.
#include <string.h>

#ifdef FUZZ_RING_SPSC
#include "cnv_spsc_ring.h"
#define RING(name) cnv_spsc_##name
#define RING_MAX_CAPACITY CNV_SPSC_MAX_CAPACITY
typedef struct cnv_spsc_ring fuzz_ring;
#else
#include "cnv_mpmc_ring.h"
#define RING(name) cnv_mpmc_##name
#define RING_MAX_CAPACITY CNV_MPMC_MAX_CAPACITY
typedef struct cnv_mpmc_ring fuzz_ring;
#endif
#include "fuzz_script.h"

#define MAX_CAPACITY 1024
#define MAX_BATCH (2 * MAX_CAPACITY + 2)
#define SENTINEL ((uintptr_t)0xDEADBEEFCAFEF00DULL)

struct model {
    uintptr_t values[MAX_CAPACITY];
    uint64_t head;  // model positions, independent of the ring's
    uint64_t count;
    uint64_t capacity;
    uintptr_t next_value;
};

static void model_push(struct model *m, uintptr_t value) {
    m->values[(m->head + m->count) % m->capacity] = value;
    m->count++;
}

static uintptr_t model_pop(struct model *m) {
    uintptr_t value = m->values[m->head % m->capacity];
    m->head++;
    m->count--;
    return value;
}

/// Puts an empty ring at position `start`, as if `start` operations had passed through it
/// (the MPMC ring's slot sequences, or the SPSC ring's cached copies of both indices).
static void ring_start_at(fuzz_ring *ring, uint64_t start) {
#ifdef FUZZ_RING_SPSC
    ring->cached_head = start;
    ring->cached_tail = start;
#else
    for (uint64_t k = 0; k < ring->capacity; k++) {
        atomic_store_explicit(&ring->slots[(start + k) & ring->mask].sequence, start + k, memory_order_relaxed);
    }
#endif
    atomic_store_explicit(&ring->head, start, memory_order_relaxed);
    atomic_store_explicit(&ring->tail, start, memory_order_relaxed);
}

static size_t enqueue_expected(const struct model *m, size_t n, int exact) {
    if (n == 0) return 0;
    uint64_t room = m->capacity - m->count;
    if (exact) return n <= room ? n : 0;
    return n < room ? n : (size_t)room;
}

static size_t dequeue_expected(const struct model *m, size_t n, int exact) {
    if (n == 0) return 0;
    if (exact) return n <= m->count ? n : 0;
    return n < m->count ? n : (size_t)m->count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fuzz_script script = fuzz_script_make(data, size);
    uint8_t shape = fuzz_u8(&script);
    uint64_t capacity;
    if (shape == 0xFF) {
        capacity = fuzz_u64(&script);
        int valid = capacity >= 2 && capacity <= RING_MAX_CAPACITY && cnv_is_power_of_two(capacity);
        if (!valid || capacity > MAX_CAPACITY) {
            if (!valid) {
                fuzz_ring *refused = (fuzz_ring *)1;
                int status = RING(ring_create)(capacity, &refused);
                FUZZ_CHECK(status == CNV_EINVAL, "capacity %llu gave %d", (unsigned long long)capacity, status);
                FUZZ_CHECK(refused == NULL, "out not cleared on refusal");
            }
            return 0;
        }
    } else {
        capacity = UINT64_C(1) << (1 + shape % 10);
    }
    fuzz_ring *ring = NULL;
    int status = RING(ring_create)(capacity, &ring);
    FUZZ_CHECK(status == CNV_OK && ring != NULL, "create %llu: %d", (unsigned long long)capacity, status);
    FUZZ_CHECK(RING(ring_capacity)(ring) == capacity, "capacity");
    uint8_t start = fuzz_u8(&script);
    if (start & 1) {
        // Just below the wrap: within the next few laps, head and tail pass 2^64.
        ring_start_at(ring, UINT64_MAX - (uint64_t)(start >> 1) * 7);
    }

    // Only the header is reset: a value slot is written before it is read (model_push), so
    // clearing the 8 KiB of values on every input would only cost time.
    static struct model m;
    m.head = 0;
    m.count = 0;
    m.capacity = capacity;
    m.next_value = 1;
    static uintptr_t buffer[MAX_BATCH + 4];

    while (!fuzz_script_done(&script)) {
        uint8_t op = fuzz_u8(&script);
        uint8_t argument = fuzz_u8(&script);
        // Batch sizes up to 2 × capacity + 1, so requests beyond the capacity are exercised.
        size_t n = (size_t)(argument % (2 * capacity + 2));
        switch (op % 7) {
        case 0: {  // single enqueue
            uintptr_t value = m.next_value;
            bool ok = RING(try_enqueue)(ring, value);
            FUZZ_CHECK(ok == (m.count < m.capacity), "try_enqueue returned %d with %llu of %llu", ok,
                       (unsigned long long)m.count, (unsigned long long)m.capacity);
            if (ok) {
                model_push(&m, value);
                m.next_value++;
            }
            break;
        }
        case 1: {  // single dequeue
            uintptr_t value = SENTINEL;
            bool ok = RING(try_dequeue)(ring, &value);
            FUZZ_CHECK(ok == (m.count > 0), "try_dequeue returned %d with %llu queued", ok, (unsigned long long)m.count);
            if (ok) {
                uintptr_t expected = model_pop(&m);
                FUZZ_CHECK(value == expected, "dequeued %lu, expected %lu", (unsigned long)value, (unsigned long)expected);
            } else {
                FUZZ_CHECK(value == SENTINEL, "failed dequeue wrote its output");
            }
            break;
        }
        case 2:    // burst enqueue
        case 3: {  // bulk enqueue
            int exact = op % 7 == 3;
            for (size_t i = 0; i < n; i++) buffer[i] = m.next_value + i;
            size_t want = enqueue_expected(&m, n, exact);
            size_t got = exact ? RING(enqueue_bulk)(ring, buffer, n) : RING(enqueue_burst)(ring, buffer, n);
            FUZZ_CHECK(got == want, "%s enqueue of %zu moved %zu, expected %zu (queued %llu of %llu)",
                       exact ? "bulk" : "burst", n, got, want, (unsigned long long)m.count,
                       (unsigned long long)m.capacity);
            for (size_t i = 0; i < got; i++) model_push(&m, buffer[i]);
            m.next_value += got;
            break;
        }
        case 4:    // burst dequeue
        case 5: {  // bulk dequeue
            int exact = op % 7 == 5;
            for (size_t i = 0; i < n + 4; i++) buffer[i] = SENTINEL;
            size_t want = dequeue_expected(&m, n, exact);
            size_t got = exact ? RING(dequeue_bulk)(ring, buffer, n) : RING(dequeue_burst)(ring, buffer, n);
            FUZZ_CHECK(got == want, "%s dequeue of %zu moved %zu, expected %zu (queued %llu)",
                       exact ? "bulk" : "burst", n, got, want, (unsigned long long)m.count);
            for (size_t i = 0; i < got; i++) {
                uintptr_t expected = model_pop(&m);
                FUZZ_CHECK(buffer[i] == expected, "value %zu of a dequeue is %lu, expected %lu", i,
                           (unsigned long)buffer[i], (unsigned long)expected);
            }
            for (size_t i = got; i < n + 4; i++) FUZZ_CHECK(buffer[i] == SENTINEL, "wrote past the count at %zu", i);
            break;
        }
        default:  // count
            FUZZ_CHECK(RING(ring_count)(ring) == m.count, "count %llu, model %llu",
                       (unsigned long long)RING(ring_count)(ring), (unsigned long long)m.count);
            break;
        }
    }
    // Drain what is left: the ring must hand back exactly the model's remainder.
    FUZZ_CHECK(RING(ring_count)(ring) == m.count, "final count");
    while (m.count > 0) {
        uintptr_t value = 0;
        FUZZ_CHECK(RING(try_dequeue)(ring, &value), "ring empty with %llu in the model", (unsigned long long)m.count);
        uintptr_t expected = model_pop(&m);
        FUZZ_CHECK(value == expected, "final drain %lu, expected %lu", (unsigned long)value, (unsigned long)expected);
    }
    uintptr_t extra;
    FUZZ_CHECK(!RING(try_dequeue)(ring, &extra), "ring has more than the model");
    RING(ring_destroy)(ring);
    return 0;
}
