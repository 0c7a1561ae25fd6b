#include "CBenchSupport.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cb_yield(void) { sched_yield(); }

int cb_allowed_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    int count = CPU_COUNT(&set);
    return count > 0 ? count : 1;
}

int cb_pin_current_thread(int index) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
    int count = CPU_COUNT(&allowed);
    if (count <= 0) return -1;
    int wanted = index % count;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        if (wanted-- > 0) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0 ? cpu : -1;
    }
    return -1;
}

const char *cb_glibc_version(void) { return gnu_get_libc_version(); }

const char *cb_jemalloc_version(void) {
    typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (mallctl == NULL) return NULL;
    const char *version = NULL;
    size_t size = sizeof(version);
    if (mallctl("version", &version, &size, NULL, 0) != 0) return NULL;
    return version;
}

void cb_malloc_provider(char *buffer, size_t length) {
    if (length == 0) return;
    snprintf(buffer, length, "?");
    void *symbol = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (symbol == NULL || dladdr(symbol, &info) == 0 || info.dli_fname == NULL) return;
    const char *slash = strrchr(info.dli_fname, '/');
    snprintf(buffer, length, "%s", slash != NULL ? slash + 1 : info.dli_fname);
}

cb_mallocx_fn cb_jemalloc_mallocx(void) { return (cb_mallocx_fn)dlsym(RTLD_DEFAULT, "mallocx"); }

cb_sdallocx_fn cb_jemalloc_sdallocx(void) { return (cb_sdallocx_fn)dlsym(RTLD_DEFAULT, "sdallocx"); }
