// Cold paths of the recorders: creation, the set's registry, snapshots and percentiles.
// Lock: each set's `lock` guards its free list, `owned` flags and the publication of new
// slots; nothing on the recording path takes it.
#include "cnv_recorder.h"

#include <stdlib.h>
#include <string.h>

/// Makes a zeroed histogram empty. Plain initialization is fine: the memory is published to
/// other threads later by a release store (or by the caller's own hand-off).
static void histogram_initialize(struct cnv_histogram *histogram) {
    atomic_init(&histogram->sum, 0);
    atomic_init(&histogram->min, UINT64_MAX);
    atomic_init(&histogram->max, 0);
}

int cnv_histogram_create(struct cnv_histogram **out) {
    if (out == NULL) return CNV_EINVAL;
    struct cnv_histogram *histogram = cnv__aligned_zeroed(sizeof(*histogram));
    if (histogram == NULL) return CNV_ENOMEM;
    histogram_initialize(histogram);
    *out = histogram;
    return CNV_OK;
}

void cnv_histogram_destroy(struct cnv_histogram *histogram) {
    free(histogram);
}

void cnv_histogram_snapshot_clear(struct cnv_histogram_snapshot *snapshot) {
    snapshot->count = 0;
    snapshot->sum = 0;
    snapshot->min = UINT64_MAX;
    snapshot->max = 0;
    memset(snapshot->buckets, 0, sizeof(uint64_t) * CNV_HISTOGRAM_BUCKET_COUNT);
}

static uint64_t saturating_add(uint64_t a, uint64_t b) {
    uint64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

void cnv_histogram_merge_into(struct cnv_histogram_snapshot *destination, const struct cnv_histogram *source) {
    uint64_t *buckets = destination->buckets;
    uint64_t count = 0;
    // Relaxed loads: each word is read whole, and the owner is its only writer (see the
    // header). `const` atomics may be loaded; the cast keeps older compilers quiet.
    for (uint32_t i = 0; i < CNV_HISTOGRAM_BUCKET_COUNT; i++) {
        uint64_t n = atomic_load_explicit((_Atomic uint64_t *)&source->buckets[i], memory_order_relaxed);
        buckets[i] += n;
        count += n;
    }
    uint64_t sum = atomic_load_explicit((_Atomic uint64_t *)&source->sum, memory_order_relaxed);
    uint64_t min = atomic_load_explicit((_Atomic uint64_t *)&source->min, memory_order_relaxed);
    uint64_t max = atomic_load_explicit((_Atomic uint64_t *)&source->max, memory_order_relaxed);
    destination->count += count;
    destination->sum = saturating_add(destination->sum, sum);
    if (count > 0) {
        if (min < destination->min) destination->min = min;
        if (max > destination->max) destination->max = max;
    }
}

uint64_t cnv_histogram_snapshot_percentile(const struct cnv_histogram_snapshot *snapshot, double percentile) {
    if (snapshot->count == 0) return 0;
    if (!(percentile > 0)) percentile = 0;  // also NaN
    if (percentile > 100) percentile = 100;
    double exact_rank = percentile / 100.0 * (double)snapshot->count;
    uint64_t rank = exact_rank >= (double)snapshot->count ? snapshot->count : (uint64_t)exact_rank;
    if ((double)rank < exact_rank) rank += 1;  // ceiling
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    uint32_t index = 0;
    for (; index < CNV_HISTOGRAM_BUCKET_COUNT; index++) {
        seen += snapshot->buckets[index];
        if (seen >= rank) break;
    }
    uint64_t value = index >= CNV_HISTOGRAM_REGULAR_BUCKETS ? snapshot->max : cnv_histogram_bucket_highest(index);
    // Clamp to what was observed (a snapshot taken mid-record may lag; keep min ≤ value ≤ max).
    if (value > snapshot->max) value = snapshot->max;
    if (value < snapshot->min) value = snapshot->min;
    return value;
}

// ---------------------------------------------------------------------------------------
// Recorder sets

static size_t recorder_size(uint32_t histogram_count) {
    return offsetof(struct cnv_recorder, histograms) + (size_t)histogram_count * sizeof(struct cnv_histogram);
}

int cnv_recorder_set_create(uint32_t histogram_count, uint32_t counter_count, uint32_t capacity,
                            struct cnv_recorder_set **out) {
    if (out == NULL) return CNV_EINVAL;
    if (histogram_count > CNV_RECORDER_MAX_HISTOGRAMS || counter_count > CNV_RECORDER_MAX_COUNTERS) return CNV_EINVAL;
    if (capacity == 0 || capacity > CNV_RECORDER_SET_MAX_CAPACITY) return CNV_EINVAL;
    struct cnv_recorder_set *set = cnv__aligned_zeroed(sizeof(*set));
    if (set == NULL) return CNV_ENOMEM;
    set->recorders = calloc(capacity, sizeof(*set->recorders));
    if (set->recorders == NULL) {
        free(set);
        return CNV_ENOMEM;
    }
    if (pthread_mutex_init(&set->lock, NULL) != 0) {
        free(set->recorders);
        free(set);
        return CNV_ENOMEM;
    }
    set->histogram_count = histogram_count;
    set->counter_count = counter_count;
    set->capacity = capacity;
    atomic_init(&set->published, 0);
    atomic_init(&set->timing_period, 1);
    for (uint32_t i = 0; i < capacity; i++) atomic_init(&set->recorders[i], NULL);
    *out = set;
    return CNV_OK;
}

void cnv_recorder_set_destroy(struct cnv_recorder_set *set) {
    if (set == NULL) return;
    uint32_t published = atomic_load_explicit(&set->published, memory_order_acquire);
    for (uint32_t i = 0; i < published; i++) {
        free(atomic_load_explicit(&set->recorders[i], memory_order_relaxed));
    }
    pthread_mutex_destroy(&set->lock);
    free(set->recorders);
    free(set);
}

int cnv_recorder_set_acquire(struct cnv_recorder_set *set, struct cnv_recorder **out) {
    if (set == NULL || out == NULL) return CNV_EINVAL;
    pthread_mutex_lock(&set->lock);
    struct cnv_recorder *recorder = set->free_list;
    if (recorder != NULL) {
        // Reuse: the previous owner's last stores happened before its release's unlock,
        // which happens before our lock, so we continue from its values.
        set->free_list = recorder->next_free;
    } else {
        uint32_t published = atomic_load_explicit(&set->published, memory_order_relaxed);
        if (published == set->capacity) {
            pthread_mutex_unlock(&set->lock);
            return CNV_ELIMIT;
        }
        recorder = cnv__aligned_zeroed(recorder_size(set->histogram_count));
        if (recorder == NULL) {
            pthread_mutex_unlock(&set->lock);
            return CNV_ENOMEM;
        }
        recorder->set = set;
        recorder->histogram_count = set->histogram_count;
        recorder->counter_count = set->counter_count;
        for (uint32_t i = 0; i < set->histogram_count; i++) histogram_initialize(&recorder->histograms[i]);
        // Release: a reader that acquires this pointer sees the initialized recorder; the
        // release increment that follows lets readers that acquire the count find the slot.
        atomic_store_explicit(&set->recorders[published], recorder, memory_order_release);
        atomic_store_explicit(&set->published, published + 1, memory_order_release);
    }
    recorder->next_free = NULL;
    recorder->owned = true;
    set->owned_count += 1;
    pthread_mutex_unlock(&set->lock);
    *out = recorder;
    return CNV_OK;
}

void cnv_recorder_release(struct cnv_recorder *recorder) {
    if (recorder == NULL) return;
    struct cnv_recorder_set *set = recorder->set;
    pthread_mutex_lock(&set->lock);
    if (recorder->owned) {
        recorder->owned = false;
        recorder->next_free = set->free_list;
        set->free_list = recorder;
        set->owned_count -= 1;
    }
    pthread_mutex_unlock(&set->lock);
}

void cnv_recorder_set_merge_histogram(struct cnv_recorder_set *set, uint32_t histogram_index,
                                      struct cnv_histogram_snapshot *destination) {
    if (histogram_index >= set->histogram_count) return;
    uint32_t published = cnv_recorder_set_count(set);
    for (uint32_t i = 0; i < published; i++) {
        struct cnv_recorder *recorder = cnv_recorder_set_at(set, i);
        if (recorder != NULL) cnv_histogram_merge_into(destination, &recorder->histograms[histogram_index]);
    }
}

uint64_t cnv_recorder_set_counter(struct cnv_recorder_set *set, uint32_t counter_index) {
    if (counter_index >= set->counter_count) return 0;
    uint64_t total = 0;
    uint32_t published = cnv_recorder_set_count(set);
    for (uint32_t i = 0; i < published; i++) {
        struct cnv_recorder *recorder = cnv_recorder_set_at(set, i);
        if (recorder != NULL) total += cnv_recorder_counter(recorder, counter_index);
    }
    return total;
}

void cnv_recorder_set_set_timing_period(struct cnv_recorder_set *set, uint64_t period) {
    if (period > 1 && !cnv_is_power_of_two(period)) {
        period = period > (1ULL << 62) ? (1ULL << 63) : 1ULL << (64 - __builtin_clzll(period - 1));
    }
    // Relaxed: owners only decide whether to take timestamps from it.
    atomic_store_explicit(&set->timing_period, period, memory_order_relaxed);
}
