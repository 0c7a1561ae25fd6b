// The clock for task timestamps: the time-stamp counter (TSC) when it is invariant,
// CLOCK_MONOTONIC otherwise.
//
// Why not clock_gettime everywhere: a CLOCK_MONOTONIC read goes through the vDSO (a seqlock
// read of the kernel's clock page, a TSC read and a conversion): 16–30 ns on the target
// machines, and a task takes up to three timestamps (submit, start, end). RDTSC alone is
// about 10 ns back to back on the 2-core VM (~25 cycles of latency, less when it overlaps
// other work) and reads no memory.
//
// Source selection (once, in `cnv_clock_init`, thread-safe and idempotent):
//   - x86-64 with CPUID 0x80000007 EDX bit 8 ("invariant TSC": constant rate, keeps counting
//     in deep C-states, synchronized across the cores of a package by the firmware and the
//     kernel's TSC_ADJUST check): ticks are raw RDTSC values, calibrated against
//     CLOCK_MONOTONIC over ~10 ms into a 32.32 fixed-point nanoseconds-per-tick multiplier;
//   - anything else (no invariant TSC, not x86-64, calibration out of range, or the
//     environment variable CONVEYOR_CLOCK=monotonic): ticks are CLOCK_MONOTONIC nanoseconds
//     and the conversion is the identity.
//
// RDTSC is not a serializing instruction: the CPU may execute it a few dozen cycles earlier
// or later than its place in program order (within the out-of-order window, ~10–20 ns). That
// is acceptable here: queue wait and service times are at least hundreds of nanoseconds and
// are recorded into histograms whose buckets are 1/128 of the value wide, so an error of a few
// dozen cycles moves no value above ~2.5 µs by more than one bucket; the cross-thread
// ordering that matters (submit before start) comes from the ring hand-off, a full
// release/acquire chain that spans far more than the out-of-order window. RDTSCP or an LFENCE
// would double the cost per timestamp and buy nothing measurable at this resolution. Two
// timestamps from different cores can still come out a few ticks reversed (skew within the
// synchronization tolerance); `cnv_clock_elapsed_ticks` clamps such intervals to zero.
#ifndef CNV_CLOCK_H
#define CNV_CLOCK_H

#include "cnv_common.h"

#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Which counter `cnv_clock_ticks` reads.
enum cnv_clock_source {
    /// `cnv_clock_init` has not run yet (the hot functions run it on first use).
    CNV_CLOCK_SOURCE_UNINITIALIZED = 0,
    /// RDTSC, invariant TSC, calibrated against CLOCK_MONOTONIC.
    CNV_CLOCK_SOURCE_TSC = 1,
    /// clock_gettime(CLOCK_MONOTONIC): ticks are nanoseconds.
    CNV_CLOCK_SOURCE_MONOTONIC = 2,
};

/// The process-wide calibration, written once by `cnv_clock_init`. The plain fields are
/// written before `source` is stored with release; every reader loads `source` with acquire
/// first, so it sees them complete. After initialization the line is only read, so every
/// core keeps it in its cache.
struct cnv_clock_state {
    _Atomic uint32_t source;
    /// Nanoseconds per tick in 32.32 fixed point (1 << 32 for the monotonic source).
    uint64_t ns_per_tick_q32;
    /// Added to converted ticks so that `cnv_clock_now_ns` lines up with CLOCK_MONOTONIC at
    /// the calibration instant (two's complement; the sum wraps as intended).
    uint64_t now_offset_ns;
    /// Ticks per second measured by the calibration (1e9 for the monotonic source).
    uint64_t ticks_per_second;
};

extern struct cnv_clock_state cnv_clock_global;

/// Chooses the source and calibrates it (~10 ms the first time). Idempotent and
/// thread-safe: concurrent callers wait for the one that calibrates. The hot functions call
/// it on first use, so calling it is optional; call it at startup to keep the calibration
/// delay off the first task. Returns the source in use.
enum cnv_clock_source cnv_clock_init(void);

/// The source in use (initializing the clock if needed).
enum cnv_clock_source cnv_clock_source_in_use(void);

/// Ticks per second of the source in use, as calibrated (1e9 for CLOCK_MONOTONIC).
uint64_t cnv_clock_ticks_per_second(void);

/// Whether this CPU advertises an invariant TSC (CPUID 0x80000007 EDX bit 8); false off x86-64.
bool cnv_clock_cpu_has_invariant_tsc(void);

/// CLOCK_MONOTONIC in nanoseconds (the fallback source; ~30 ns on the target machines).
static inline uint64_t cnv_clock_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

/// Loads the source; initializes the clock on the very first call. Acquire pairs with the
/// release store that ends `cnv_clock_init`, so the calibration fields read afterwards are
/// complete (a plain load on x86-64).
static inline uint32_t cnv_clock__source(void) {
    uint32_t source = atomic_load_explicit(&cnv_clock_global.source, memory_order_acquire);
    if (CNV_UNLIKELY(source == CNV_CLOCK_SOURCE_UNINITIALIZED)) source = (uint32_t)cnv_clock_init();
    return source;
}

/// A timestamp in ticks of the source in use. Cheap (RDTSC, no memory traffic beyond one
/// read-only line). Not serializing: see the header comment for why that is fine here.
static inline uint64_t cnv_clock_ticks(void) {
#if defined(__x86_64__)
    if (CNV_LIKELY(cnv_clock__source() == CNV_CLOCK_SOURCE_TSC)) return __builtin_ia32_rdtsc();
#else
    (void)cnv_clock__source();
#endif
    return cnv_clock_monotonic_ns();
}

/// Converts a tick count (usually a difference of two timestamps) to nanoseconds: one
/// 64×64→128-bit multiply and a shift, no division.
static inline uint64_t cnv_clock_ticks_to_ns(uint64_t ticks) {
    (void)cnv_clock__source();
    return (uint64_t)(((unsigned __int128)ticks * cnv_clock_global.ns_per_tick_q32) >> 32);
}

/// Ticks from `start` to `end`, zero when `end` is before `start` (timestamps taken on two
/// cores may be a few ticks apart the wrong way; see the header comment).
static inline uint64_t cnv_clock_elapsed_ticks(uint64_t start, uint64_t end) {
    return end > start ? end - start : 0;
}

/// Nanoseconds from `start` to `end` (tick timestamps), zero when `end` is before `start`.
static inline uint64_t cnv_clock_elapsed_ns(uint64_t start, uint64_t end) {
    return cnv_clock_ticks_to_ns(cnv_clock_elapsed_ticks(start, end));
}

/// Now in nanoseconds on CLOCK_MONOTONIC's time line (anchored at calibration; with the TSC
/// source it drifts from CLOCK_MONOTONIC only by the calibration error, ~10 ppm).
static inline uint64_t cnv_clock_now_ns(void) {
    uint64_t ticks = cnv_clock_ticks();
    return cnv_clock_ticks_to_ns(ticks) + cnv_clock_global.now_offset_ns;
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_CLOCK_H
