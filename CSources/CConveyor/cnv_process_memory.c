#include "cnv_process_memory.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#ifdef CONVEYOR_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

uint64_t cnv_memory_glibc_heap_allocated(void) {
    struct mallinfo2 info = mallinfo2();
    return (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
}

bool cnv_memory_glibc_trim(void) {
    return malloc_trim(0) != 0;
}

int cnv_memory_jemalloc_tcache_bytes(uint64_t *out) {
    if (out == NULL) return CNV_EINVAL;
    *out = 0;
#ifdef CONVEYOR_JEMALLOC
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.tcache_bytes", (unsigned)MALLCTL_ARENAS_ALL);
    size_t value = 0;
    size_t length = sizeof(value);
    if (mallctl(name, &value, &length, NULL, 0) != 0) return CNV_ENOTSUP;
    *out = (uint64_t)value;
    return CNV_OK;
#else
    return CNV_ENOTSUP;
#endif
}

uint64_t cnv_memory_peak_rss_bytes(void) {
    FILE *file = fopen("/proc/self/status", "r");
    if (file != NULL) {
        char line[256];
        unsigned long long kilobytes = 0;
        bool found = false;
        while (fgets(line, sizeof(line), file) != NULL) {
            if (strncmp(line, "VmHWM:", 6) == 0) {
                found = sscanf(line + 6, "%llu", &kilobytes) == 1;
                break;
            }
        }
        fclose(file);
        if (found) return (uint64_t)kilobytes * 1024;
    }
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return (uint64_t)usage.ru_maxrss * 1024;  // kilobytes on Linux
}
