// Conveyor C core: shared definitions.
//
// Every entry point that Swift calls per task is `static inline` here so the Swift
// importer inlines it. Structs with atomics or over-alignment are not importable by
// Swift; Swift sees them as `OpaquePointer` and the layout stays in C.
#ifndef CNV_COMMON_H
#define CNV_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Size of one cache line on x86-64 and most AArch64 parts.
#define CNV_CACHE_LINE 64
/// Distance that keeps two hot fields from interfering. Intel's adjacent-line prefetcher
/// pulls cache lines in pairs, so fields written by different threads sit 128 bytes apart.
#define CNV_FALSE_SHARING_RANGE 128

#define CNV_LIKELY(x) __builtin_expect(!!(x), 1)
#define CNV_UNLIKELY(x) __builtin_expect(!!(x), 0)

/// Error codes returned by the core. Zero is success; every error is negative.
enum cnv_status {
    CNV_OK = 0,
    /// An argument is out of range (capacity not a power of two, object size zero or too large, …).
    CNV_EINVAL = -1,
    /// Memory could not be obtained from the operating system or allocator.
    CNV_ENOMEM = -2,
    /// The dedicated jemalloc arena could not be created.
    CNV_EARENA = -3,
    /// The object was destroyed (detected through its magic number).
    CNV_EDESTROYED = -4,
    /// The feature was compiled out (e.g. jemalloc statistics with the Jemalloc trait off).
    CNV_ENOTSUP = -5,
    /// Another thread holds the resource (e.g. a second overflow-queue drainer).
    CNV_EBUSY = -6,
    /// A process-wide limit was reached (e.g. live slab pools).
    CNV_ELIMIT = -7,
};

/// A short, human-readable description of a status code.
const char *cnv_status_description(int status);

/// Tells the CPU we are spinning (PAUSE on x86, YIELD on ARM): saves power and lets a
/// hyper-thread sibling run.
static inline void cnv_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/// Zeroed memory aligned to CNV_FALSE_SHARING_RANGE, its size rounded up to a multiple of it
/// (cold paths: creating rings, recorders, sets). Free with free(). NULL when out of memory.
void *cnv__aligned_zeroed(size_t size);

/// True when `value` is a non-zero power of two.
static inline bool cnv_is_power_of_two(uint64_t value) {
    return value != 0 && (value & (value - 1)) == 0;
}

/// A statistics counter that exactly one thread writes. The owner reads and writes it with
/// relaxed operations (a plain load and store on x86, no locked instruction); readers on
/// other threads load it relaxed and accept a value that may be a few increments old.
static inline void cnv_owned_counter_add(_Atomic uint64_t *counter, uint64_t amount) {
    uint64_t current = atomic_load_explicit(counter, memory_order_relaxed);
    atomic_store_explicit(counter, current + amount, memory_order_relaxed);
}

/// Relaxed 64-bit load and store for plain `uint64_t` words shared between threads (Swift
/// code keeps such words in raw memory, where it cannot place an `Atomic`).
static inline uint64_t cnv_load_relaxed_u64(const uint64_t *word) {
    return __atomic_load_n(word, __ATOMIC_RELAXED);
}
static inline void cnv_store_relaxed_u64(uint64_t *word, uint64_t value) {
    __atomic_store_n(word, value, __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif  // CNV_COMMON_H
