#include "cnv_parker.h"
#include "cnv_fault.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int cnv_parker_create(struct cnv_parker **out) {
    if (out == NULL) return CNV_EINVAL;
    struct cnv_parker *parker = NULL;
    if (CNV_FAULT(CNV_FAULT_PARKER) || posix_memalign((void **)&parker, CNV_FALSE_SHARING_RANGE, sizeof(*parker)) != 0) {
        return CNV_ENOMEM;
    }
    memset(parker, 0, sizeof(*parker));
    *out = parker;
    return CNV_OK;
}

void cnv_parker_destroy(struct cnv_parker *parker) {
    free(parker);
}

bool cnv_parker_park(struct cnv_parker *parker, uint32_t epoch, int64_t timeout_ns) {
    struct timespec timeout;
    struct timespec *timeout_pointer = NULL;
    if (timeout_ns >= 0) {
        timeout.tv_sec = (time_t)(timeout_ns / 1000000000);
        timeout.tv_nsec = (long)(timeout_ns % 1000000000);
        timeout_pointer = &timeout;
    }
    bool woken = true;
    if (atomic_load_explicit(&parker->epoch, memory_order_acquire) == epoch) {
        atomic_fetch_add_explicit(&parker->wait_syscalls, 1, memory_order_relaxed);
        // The kernel compares the word with `epoch` atomically with going to sleep.
        long result = syscall(SYS_futex, &parker->epoch, FUTEX_WAIT_PRIVATE, epoch, timeout_pointer, NULL, 0);
        if (result != 0 && errno == ETIMEDOUT) woken = false;
    }
    atomic_fetch_sub_explicit(&parker->sleepers, 1, memory_order_relaxed);
    return woken;
}

void cnv_parker__wake(struct cnv_parker *parker, int count) {
    // Moving the epoch makes a waiter that is about to sleep return at once instead.
    atomic_fetch_add_explicit(&parker->epoch, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&parker->wake_syscalls, 1, memory_order_relaxed);
    syscall(SYS_futex, &parker->epoch, FUTEX_WAKE_PRIVATE, count <= 0 ? 1 : count, NULL, NULL, 0);
}
