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
    // Whatever woke us (a wake, the epoch, the timeout), a wake in flight may stop being
    // pending: the next one may be made. seq_cst exchange and fence before the caller looks
    // at its queues (case 3 of the proof in cnv_parker.h).
    if (atomic_load_explicit(&parker->wake_pending, memory_order_relaxed) != 0) {
        atomic_exchange_explicit(&parker->wake_pending, 0, memory_order_seq_cst);
    }
    atomic_thread_fence(memory_order_seq_cst);
    atomic_fetch_sub_explicit(&parker->sleepers, 1, memory_order_relaxed);
    return woken;
}

bool cnv_parker__wake_one(struct cnv_parker *parker) {
    bool made = false;
    for (;;) {
        uint32_t idle = 0;
        if (!atomic_compare_exchange_strong_explicit(&parker->wake_pending, &idle, 1, memory_order_seq_cst,
                                                     memory_order_relaxed)) {
            return made;  // another wake is in flight; its target looks at the queues
        }
        atomic_fetch_add_explicit(&parker->epoch, 1, memory_order_seq_cst);
        atomic_fetch_add_explicit(&parker->wake_syscalls, 1, memory_order_relaxed);
        made = true;
        long woken = syscall(SYS_futex, &parker->epoch, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        if (woken > 0) return true;  // the woken thread clears wake_pending
        // Nobody was in the futex queue (the sleeper left, or is between prepare and its
        // wait and will see the new epoch): clear the flag, then look again (case 3).
        atomic_store_explicit(&parker->wake_pending, 0, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&parker->searching, memory_order_relaxed) != 0) return true;
        if (atomic_load_explicit(&parker->sleepers, memory_order_relaxed) == 0) return true;
    }
}

void cnv_parker__wake(struct cnv_parker *parker, int count) {
    // Moving the epoch makes a waiter that is about to sleep return at once instead.
    atomic_fetch_add_explicit(&parker->epoch, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&parker->wake_syscalls, 1, memory_order_relaxed);
    syscall(SYS_futex, &parker->epoch, FUTEX_WAKE_PRIVATE, count <= 0 ? 1 : count, NULL, NULL, 0);
}
