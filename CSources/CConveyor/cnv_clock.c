#include "cnv_clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

struct cnv_clock_state cnv_clock_global;

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

/// Calibration window. Each end of the window is located to within one RDTSC/clock_gettime
/// bracket (~50–100 ns), so the rate error is about 2 × 100 ns / 10 ms = 20 ppm.
#define CALIBRATION_WINDOW_NS 10000000L
/// Brackets tried at each end of the window; the narrowest one wins (a preemption or an
/// interrupt inside a bracket only makes that bracket wide).
#define CALIBRATION_BRACKETS 7
/// Plausible TSC rates; anything outside means the measurement is broken.
#define MIN_TICKS_PER_SECOND 10000000ULL      // 10 MHz
#define MAX_TICKS_PER_SECOND 100000000000ULL  // 100 GHz

bool cnv_clock_cpu_has_invariant_tsc(void) {
#if defined(__x86_64__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    // __get_cpuid checks the highest extended leaf first and returns 0 when 0x80000007 is absent.
    if (!__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx)) return false;
    return (edx & (1u << 8)) != 0;
#else
    return false;
#endif
}

#if defined(__x86_64__)
struct clock_pair {
    uint64_t ticks;  // midpoint of the bracket
    uint64_t ns;     // CLOCK_MONOTONIC inside the bracket
};

/// Reads CLOCK_MONOTONIC between two RDTSCs, several times, and keeps the tightest bracket.
static struct clock_pair sample_pair(void) {
    struct clock_pair best = {0, 0};
    uint64_t best_width = UINT64_MAX;
    for (int attempt = 0; attempt < CALIBRATION_BRACKETS; attempt++) {
        uint64_t before = __builtin_ia32_rdtsc();
        uint64_t ns = cnv_clock_monotonic_ns();
        uint64_t after = __builtin_ia32_rdtsc();
        if (after < before) continue;
        uint64_t width = after - before;
        if (width < best_width) {
            best_width = width;
            best.ticks = before + width / 2;
            best.ns = ns;
        }
    }
    return best;
}

/// Measures the TSC against CLOCK_MONOTONIC. Returns false when the result is implausible.
static bool calibrate_tsc(uint64_t *ns_per_tick_q32, uint64_t *offset_ns, uint64_t *ticks_per_second) {
    struct clock_pair start = sample_pair();
    struct timespec pause = {0, CALIBRATION_WINDOW_NS};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
    struct clock_pair end = sample_pair();
    if (end.ticks <= start.ticks || end.ns <= start.ns) return false;
    uint64_t ticks = end.ticks - start.ticks;
    uint64_t ns = end.ns - start.ns;
    unsigned __int128 rate = (unsigned __int128)ticks * 1000000000ULL / ns;
    if (rate < MIN_TICKS_PER_SECOND || rate > MAX_TICKS_PER_SECOND) return false;
    unsigned __int128 q32 = ((unsigned __int128)ns << 32) / ticks;
    if (q32 == 0 || q32 > UINT64_MAX) return false;
    *ns_per_tick_q32 = (uint64_t)q32;
    *ticks_per_second = (uint64_t)rate;
    // Anchor: at the end of the window, converted ticks + offset == CLOCK_MONOTONIC.
    uint64_t converted = (uint64_t)(((unsigned __int128)end.ticks * (uint64_t)q32) >> 32);
    *offset_ns = end.ns - converted;  // wraps when converted > end.ns; the sum wraps back
    return true;
}
#endif

static bool monotonic_forced(void) {
    const char *choice = getenv("CONVEYOR_CLOCK");
    return choice != NULL && strcmp(choice, "monotonic") == 0;
}

static void clock_initialize(void) {
    uint32_t source = CNV_CLOCK_SOURCE_MONOTONIC;
    uint64_t ns_per_tick_q32 = 1ULL << 32;
    uint64_t offset_ns = 0;
    uint64_t ticks_per_second = 1000000000ULL;
#if defined(__x86_64__)
    if (!monotonic_forced() && cnv_clock_cpu_has_invariant_tsc()) {
        uint64_t q32 = 0, offset = 0, rate = 0;
        if (calibrate_tsc(&q32, &offset, &rate)) {
            source = CNV_CLOCK_SOURCE_TSC;
            ns_per_tick_q32 = q32;
            offset_ns = offset;
            ticks_per_second = rate;
        }
    }
#else
    (void)monotonic_forced;
#endif
    cnv_clock_global.ns_per_tick_q32 = ns_per_tick_q32;
    cnv_clock_global.now_offset_ns = offset_ns;
    cnv_clock_global.ticks_per_second = ticks_per_second;
    // Release: a thread that acquires a non-zero source sees the three fields above.
    atomic_store_explicit(&cnv_clock_global.source, source, memory_order_release);
}

enum cnv_clock_source cnv_clock_init(void) {
    pthread_once(&clock_once, clock_initialize);
    return (enum cnv_clock_source)atomic_load_explicit(&cnv_clock_global.source, memory_order_acquire);
}

enum cnv_clock_source cnv_clock_source_in_use(void) {
    return (enum cnv_clock_source)cnv_clock__source();
}

uint64_t cnv_clock_ticks_per_second(void) {
    (void)cnv_clock__source();
    return cnv_clock_global.ticks_per_second;
}
