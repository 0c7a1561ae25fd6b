// Small C helpers for the Conveyor benchmarks: things Swift cannot spell directly
// (CPU_SET, PAUSE, dladdr on malloc, glibc's own allocator, jemalloc looked up with dlsym).
#ifndef CBENCH_SUPPORT_H
#define CBENCH_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// PAUSE on x86 (YIELD on ARM): what a spinning thread does between polls.
static inline void cb_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/// Gives up the CPU (sched_yield).
void cb_yield(void);

/// Number of CPUs this process may run on (its affinity mask).
int cb_allowed_cpu_count(void);

/// Pins the calling thread to the `index`-th CPU of the process's affinity mask (modulo the
/// count). Returns the CPU number, or -1 if pinning failed.
int cb_pin_current_thread(int index);

/// glibc version string.
const char *cb_glibc_version(void);

/// jemalloc's version string if jemalloc is in the process (looked up with dlsym), else NULL.
const char *cb_jemalloc_version(void);

/// The shared object that `malloc` resolves to in this process (e.g. libjemalloc.so.2).
/// Writes "?" when unknown.
void cb_malloc_provider(char *buffer, size_t length);

/// jemalloc's fast API, looked up with dlsym so that this target needs no jemalloc headers
/// (NULL when jemalloc is not in the process).
typedef void *(*cb_mallocx_fn)(size_t size, int flags);
typedef void (*cb_sdallocx_fn)(void *pointer, size_t size, int flags);
cb_mallocx_fn cb_jemalloc_mallocx(void);
cb_sdallocx_fn cb_jemalloc_sdallocx(void);

/// glibc's allocator itself, even when jemalloc has replaced malloc (as with the Jemalloc trait).
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif  // CBENCH_SUPPORT_H
