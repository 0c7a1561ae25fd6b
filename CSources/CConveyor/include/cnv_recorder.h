// Per-thread recorders: counters and log-linear latency histograms, written by one owner
// thread without locked instructions, read by any thread without locks, merged on read.
//
// Histogram layout (HDR-like, log-linear). With s = CNV_HISTOGRAM_SUB_BUCKET_BITS (7) and
// S = 2^s (128):
//   - values 0 … 2S-1 (0 … 255 ns) each have their own bucket (exact);
//   - above that, every power of two [2^e, 2^(e+1)) is split into S equal sub-buckets of
//     width 2^(e-s), so a bucket is never wider than 1/128 of the values it holds;
//   - values ≥ CNV_HISTOGRAM_LIMIT (2^43 ns ≈ 2 h 26 min) go to one overflow bucket (the last).
// Index of a value v (clamped to the limit): e = 63 - clz(v | S), shift = e - s,
// index = shift·S + (v >> shift). Continuous at every power of two, no loop, no division.
//
// Precision: a percentile is reported as the highest value of its bucket (clamped to the
// observed min and max), so it never understates: for a true value v the report r satisfies
// v ≤ r < v·(1 + 1/128), i.e. relative error below 0.79 %, and r == v below 256 ns. The
// maximum is exact (tracked unclamped); values in the overflow bucket report as the maximum.
//
// Memory ordering. Every field a reader can see is `_Atomic uint64_t`; the owner updates it
// with a relaxed load and a relaxed store (`cnv_owned_counter_add`: a plain mov on x86, no
// lock prefix), which is correct because no other thread ever writes it. Readers load each
// field relaxed: each word is read whole (no torn values) and, by coherence, never goes
// backwards between two reads by the same thread, so successive snapshots are monotonic. A
// snapshot taken while the owner records is not a single instant: the buckets, sum, min and
// max may disagree by the records in flight; quiescent recorders give exact totals. The
// count of a snapshot is the sum of its buckets, so percentiles are always consistent with
// the counts they walk (and recording stores one word fewer).
//
// Recorder sets: the recorders of one group (one per worker thread) live in a set. A thread
// acquires a recorder on the cold path (under the set's mutex) and releases it when it
// exits; a released recorder is kept, with its statistics, and handed to the next thread that
// acquires one. So recorders are freed only with the set, a reader never follows a dangling
// pointer, and totals never go backwards when threads come and go. The mutex hand-off orders
// the old owner's last stores before the new owner's first loads.
#ifndef CNV_RECORDER_H
#define CNV_RECORDER_H

#include "cnv_common.h"

#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

/// log2 of the linear sub-buckets per power of two (relative precision 2^-7).
#define CNV_HISTOGRAM_SUB_BUCKET_BITS 7
/// Linear sub-buckets per power of two.
#define CNV_HISTOGRAM_SUB_BUCKETS 128
/// log2 of the first value that overflows.
#define CNV_HISTOGRAM_LIMIT_BITS 43
/// The first value that overflows: 2^43 ns ≈ 8,796 s.
#define CNV_HISTOGRAM_LIMIT 8796093022208ULL
/// Buckets below the limit: (LIMIT_BITS - SUB_BUCKET_BITS + 1) · SUB_BUCKETS.
#define CNV_HISTOGRAM_REGULAR_BUCKETS 4736
/// All buckets; the last one (index CNV_HISTOGRAM_REGULAR_BUCKETS) counts overflows.
#define CNV_HISTOGRAM_BUCKET_COUNT 4737

_Static_assert(CNV_HISTOGRAM_SUB_BUCKETS == 1 << CNV_HISTOGRAM_SUB_BUCKET_BITS, "sub-bucket count");
_Static_assert(CNV_HISTOGRAM_LIMIT == 1ULL << CNV_HISTOGRAM_LIMIT_BITS, "limit");
_Static_assert(CNV_HISTOGRAM_REGULAR_BUCKETS ==
                   (CNV_HISTOGRAM_LIMIT_BITS - CNV_HISTOGRAM_SUB_BUCKET_BITS + 1) * CNV_HISTOGRAM_SUB_BUCKETS,
               "regular buckets");
_Static_assert(CNV_HISTOGRAM_BUCKET_COUNT == CNV_HISTOGRAM_REGULAR_BUCKETS + 1, "overflow bucket");

/// Most histograms and counters one recorder can hold.
#define CNV_RECORDER_MAX_HISTOGRAMS 8
#define CNV_RECORDER_MAX_COUNTERS 32
/// Most recorders one set can hold (threads owning one at the same time).
#define CNV_RECORDER_SET_MAX_CAPACITY 4096

/// A live histogram: written by its owner thread only, read by anyone. No padding inside:
/// one thread writes all of it; recorders of different owners are 128-byte aligned apart.
struct cnv_histogram {
    /// Sum of the recorded values, saturating at UINT64_MAX.
    _Atomic uint64_t sum;
    /// Smallest value recorded; UINT64_MAX while empty.
    _Atomic uint64_t min;
    /// Largest value recorded (not clamped to the limit); 0 while empty.
    _Atomic uint64_t max;
    _Atomic uint64_t buckets[CNV_HISTOGRAM_BUCKET_COUNT];
};
_Static_assert(sizeof(struct cnv_histogram) == (3 + CNV_HISTOGRAM_BUCKET_COUNT) * sizeof(uint64_t),
               "cnv_histogram: sum, min, max and the buckets, no padding");

/// A plain copy of one or more histograms, for readers. The caller owns `buckets`
/// (CNV_HISTOGRAM_BUCKET_COUNT entries); functions taking a `const` snapshot never write
/// through it.
struct cnv_histogram_snapshot {
    /// Values recorded: the sum of `buckets`.
    uint64_t count;
    uint64_t sum;
    /// UINT64_MAX while empty.
    uint64_t min;
    uint64_t max;
    uint64_t *buckets;
};
// Swift fills one of these with a buffer of CNV_HISTOGRAM_BUCKET_COUNT words it owns.
_Static_assert(sizeof(struct cnv_histogram_snapshot) == 4 * sizeof(uint64_t) + sizeof(uint64_t *),
               "cnv_histogram_snapshot: four counts and the buckets pointer");

/// The bucket that holds `value` (values ≥ CNV_HISTOGRAM_LIMIT: the overflow bucket).
static inline uint32_t cnv_histogram_bucket_index(uint64_t value) {
    // Compiles to a compare and a conditional move.
    if (value > CNV_HISTOGRAM_LIMIT) value = CNV_HISTOGRAM_LIMIT;
    // `| SUB_BUCKETS` makes clz defined for 0 and puts every value below 2S in shift 0.
    uint32_t exponent = 63u - (uint32_t)__builtin_clzll(value | CNV_HISTOGRAM_SUB_BUCKETS);
    uint32_t shift = exponent - CNV_HISTOGRAM_SUB_BUCKET_BITS;
    return (shift << CNV_HISTOGRAM_SUB_BUCKET_BITS) + (uint32_t)(value >> shift);
}

/// The smallest value that lands in bucket `index`.
static inline uint64_t cnv_histogram_bucket_lowest(uint32_t index) {
    uint32_t octave = index >> CNV_HISTOGRAM_SUB_BUCKET_BITS;  // shift + 1, or 0 below S
    if (octave == 0) return index;
    uint64_t mantissa = (index & (CNV_HISTOGRAM_SUB_BUCKETS - 1)) | CNV_HISTOGRAM_SUB_BUCKETS;
    return mantissa << (octave - 1);
}

/// The largest value that lands in bucket `index` (UINT64_MAX for the overflow bucket).
static inline uint64_t cnv_histogram_bucket_highest(uint32_t index) {
    if (index >= CNV_HISTOGRAM_REGULAR_BUCKETS) return UINT64_MAX;
    uint32_t octave = index >> CNV_HISTOGRAM_SUB_BUCKET_BITS;
    uint64_t width = octave == 0 ? 1 : 1ULL << (octave - 1);
    return cnv_histogram_bucket_lowest(index) + width - 1;
}

/// Records one value (nanoseconds). Owner thread only. About ten instructions and three or
/// four plain stores to lines the owner already holds; no locked instruction, no loop.
static inline void cnv_histogram_record(struct cnv_histogram *histogram, uint64_t value) {
    cnv_owned_counter_add(&histogram->buckets[cnv_histogram_bucket_index(value)], 1);
    // Relaxed load + store: only this thread writes these fields (see the header comment).
    uint64_t sum = atomic_load_explicit(&histogram->sum, memory_order_relaxed);
    uint64_t new_sum;
    if (CNV_UNLIKELY(__builtin_add_overflow(sum, value, &new_sum))) new_sum = UINT64_MAX;
    atomic_store_explicit(&histogram->sum, new_sum, memory_order_relaxed);
    if (CNV_UNLIKELY(value < atomic_load_explicit(&histogram->min, memory_order_relaxed))) {
        atomic_store_explicit(&histogram->min, value, memory_order_relaxed);
    }
    if (CNV_UNLIKELY(value > atomic_load_explicit(&histogram->max, memory_order_relaxed))) {
        atomic_store_explicit(&histogram->max, value, memory_order_relaxed);
    }
}

/// Creates an empty stand-alone histogram (recorders embed theirs). CNV_ENOMEM on failure.
int cnv_histogram_create(struct cnv_histogram **out);
void cnv_histogram_destroy(struct cnv_histogram *histogram);

/// Empties a snapshot (count, sum, max 0, min UINT64_MAX, buckets zeroed).
void cnv_histogram_snapshot_clear(struct cnv_histogram_snapshot *snapshot);
/// Adds a live histogram into `destination` with relaxed loads; safe while its owner records.
void cnv_histogram_merge_into(struct cnv_histogram_snapshot *destination, const struct cnv_histogram *source);
/// The value at `percentile` (0…100; out of range is clamped): the highest value of the
/// bucket holding the ⌈percentile/100 · count⌉-th smallest value, clamped to [min, max].
/// 0 when the snapshot is empty.
uint64_t cnv_histogram_snapshot_percentile(const struct cnv_histogram_snapshot *snapshot, double percentile);

// ---------------------------------------------------------------------------------------
// Recorders and recorder sets

struct cnv_recorder_set;

/// One thread's statistics: counters and histograms, all written by the owner only.
struct cnv_recorder {
    /// Counters by index. First, so they share the recorder's first lines with the
    /// read-only fields below, which the owner reads on every call anyway.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t counters[CNV_RECORDER_MAX_COUNTERS];
    /// Read-only after creation.
    struct cnv_recorder_set *set;
    uint32_t histogram_count;
    uint32_t counter_count;
    /// Owner-private: tasks seen by the sampler. Plain, because only the owner touches it;
    /// ownership moves under the set's mutex.
    uint64_t sample_counter;
    /// Guarded by the set's mutex.
    struct cnv_recorder *next_free;
    bool owned;
    /// `histogram_count` histograms. The recorder's size is rounded up to a multiple of
    /// CNV_FALSE_SHARING_RANGE, so two recorders never share a cache line pair.
    _Alignas(CNV_FALSE_SHARING_RANGE) struct cnv_histogram histograms[];
};
// Each recorder starts and its histograms start on a line-pair boundary, so recorders of
// different owners (allocated CNV_FALSE_SHARING_RANGE-aligned, sizes rounded up) never share one.
_Static_assert(_Alignof(struct cnv_recorder) == CNV_FALSE_SHARING_RANGE, "cnv_recorder: line-pair aligned");
_Static_assert(offsetof(struct cnv_recorder, counters) == 0 &&
                   offsetof(struct cnv_recorder, histograms) % CNV_FALSE_SHARING_RANGE == 0,
               "cnv_recorder: counters first, histograms on a line pair of their own");

struct cnv_recorder_set {
    /// Recorders published so far: slots [0, published) hold recorders, never removed while
    /// the set lives. Written under `lock`, read by anyone.
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint32_t published;
    /// Timing: 0 off, otherwise a power of two N: owners time one task in N. Read by the
    /// owners on every task (a read-mostly line), written when the setting changes.
    _Atomic uint64_t timing_period;
    /// Read-only after creation.
    uint32_t histogram_count;
    uint32_t counter_count;
    uint32_t capacity;
    _Atomic(struct cnv_recorder *) *recorders;
    /// Cold path: acquire and release. On its own line pair.
    _Alignas(CNV_FALSE_SHARING_RANGE) pthread_mutex_t lock;
    struct cnv_recorder *free_list;
    uint32_t owned_count;
};
// The read-mostly line pair (published, timing_period, …) and the lock's never overlap.
_Static_assert(offsetof(struct cnv_recorder_set, lock) - offsetof(struct cnv_recorder_set, published) >=
                   CNV_FALSE_SHARING_RANGE,
               "cnv_recorder_set: the lock off the owners' read-mostly line pair");

/// Creates a set whose recorders each hold `histogram_count` histograms (≤ 8) and
/// `counter_count` counters (≤ 32), for up to `capacity` (1…4096) owners at once. Timing
/// starts on for every task. CNV_EINVAL / CNV_ENOMEM.
int cnv_recorder_set_create(uint32_t histogram_count, uint32_t counter_count, uint32_t capacity,
                            struct cnv_recorder_set **out);
/// Destroys the set and its recorders. No thread may use either any more.
void cnv_recorder_set_destroy(struct cnv_recorder_set *set);

/// Gives the calling thread a recorder: a released one (statistics kept) or a new one.
/// CNV_ELIMIT when `capacity` recorders are owned, CNV_ENOMEM.
int cnv_recorder_set_acquire(struct cnv_recorder_set *set, struct cnv_recorder **out);
/// Returns a recorder to its set (its statistics stay in the set's totals). The owner must
/// not use it afterwards.
void cnv_recorder_release(struct cnv_recorder *recorder);

/// Recorders published (owned or released); enumerate them with `cnv_recorder_set_at`.
static inline uint32_t cnv_recorder_set_count(struct cnv_recorder_set *set) {
    // Acquire pairs with the release increment in acquire: slots below the count are filled.
    return atomic_load_explicit(&set->published, memory_order_acquire);
}

/// The recorder in slot `index` (< cnv_recorder_set_count). Acquire pairs with the release
/// store that published it, so its initialized contents are visible.
static inline struct cnv_recorder *cnv_recorder_set_at(struct cnv_recorder_set *set, uint32_t index) {
    return atomic_load_explicit(&set->recorders[index], memory_order_acquire);
}

/// Adds histogram `histogram_index` of every recorder in the set into `destination`.
void cnv_recorder_set_merge_histogram(struct cnv_recorder_set *set, uint32_t histogram_index,
                                      struct cnv_histogram_snapshot *destination);
/// Counter `counter_index` summed over every recorder in the set.
uint64_t cnv_recorder_set_counter(struct cnv_recorder_set *set, uint32_t counter_index);

/// Sets the timing period: 0 turns timing off, 1 times every task, a power of two N times one
/// task in N. Other values are rounded up to a power of two. Takes effect on each owner's
/// next task (relaxed: nothing else depends on it).
void cnv_recorder_set_set_timing_period(struct cnv_recorder_set *set, uint64_t period);
static inline uint64_t cnv_recorder_set_timing_period(struct cnv_recorder_set *set) {
    return atomic_load_explicit(&set->timing_period, memory_order_relaxed);
}

/// Whether the owner should take timestamps for its next task (timing on, and this task
/// is the sampled one). Owner thread only.
static inline bool cnv_recorder_should_time(struct cnv_recorder *recorder) {
    uint64_t period = atomic_load_explicit(&recorder->set->timing_period, memory_order_relaxed);
    if (period == 0) return false;
    return (recorder->sample_counter++ & (period - 1)) == 0;
}

/// Histogram `index` (< histogram_count) of a recorder.
static inline struct cnv_histogram *cnv_recorder_histogram(struct cnv_recorder *recorder, uint32_t index) {
    return &recorder->histograms[index];
}

/// Records `value_ns` into histogram `index`. Owner thread only.
static inline void cnv_recorder_record(struct cnv_recorder *recorder, uint32_t index, uint64_t value_ns) {
    cnv_histogram_record(&recorder->histograms[index], value_ns);
}

/// Adds `amount` to counter `index`. Owner thread only (relaxed load + store).
static inline void cnv_recorder_add(struct cnv_recorder *recorder, uint32_t index, uint64_t amount) {
    cnv_owned_counter_add(&recorder->counters[index], amount);
}

/// Counter `index` of one recorder; any thread (relaxed: may be a few increments old).
static inline uint64_t cnv_recorder_counter(struct cnv_recorder *recorder, uint32_t index) {
    return atomic_load_explicit(&recorder->counters[index], memory_order_relaxed);
}

static inline uint32_t cnv_recorder_histogram_count(const struct cnv_recorder *recorder) {
    return recorder->histogram_count;
}
static inline uint32_t cnv_recorder_counter_count(const struct cnv_recorder *recorder) {
    return recorder->counter_count;
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_RECORDER_H
