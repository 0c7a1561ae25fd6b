#include "cnv_overflow_queue.h"
#include "cnv_fault.h"

#include <stdlib.h>
#include <string.h>
#include <urcu/wfcqueue.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CNV_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CNV_TSAN 1
#endif

#ifdef CNV_TSAN
void __tsan_acquire(void *address);
void __tsan_release(void *address);
#define CNV_TSAN_RELEASE(address) __tsan_release(address)
#define CNV_TSAN_ACQUIRE(address) __tsan_acquire(address)
#else
#define CNV_TSAN_RELEASE(address) ((void)0)
#define CNV_TSAN_ACQUIRE(address) ((void)0)
#endif

struct cnv_overflow_node {
    struct cds_wfcq_node link;
    uintptr_t value;
};

struct cnv_overflow_queue {
    /// Dequeue side (the drainer).
    _Alignas(CNV_FALSE_SHARING_RANGE) struct __cds_wfcq_head head;
    _Atomic uint32_t draining;
    _Atomic uint64_t drained;
    /// Enqueue side.
    _Alignas(CNV_FALSE_SHARING_RANGE) struct cds_wfcq_tail tail;
    _Alignas(CNV_FALSE_SHARING_RANGE) _Atomic uint64_t enqueued;
    /// Read-only.
    _Alignas(CNV_FALSE_SHARING_RANGE) struct cnv_slab_pool *nodes;
};

int cnv_overflow_queue_create(enum cnv_slab_backing backing, struct cnv_overflow_queue **out) {
    if (out == NULL) return CNV_EINVAL;
    *out = NULL;
    struct cnv_overflow_queue *queue = NULL;
    if (CNV_FAULT(CNV_FAULT_OVERFLOW_QUEUE) || posix_memalign((void **)&queue, CNV_FALSE_SHARING_RANGE, sizeof(*queue)) != 0) {
        return CNV_ENOMEM;
    }
    memset(queue, 0, sizeof(*queue));
    int status = cnv_slab_pool_create(sizeof(struct cnv_overflow_node), backing, &queue->nodes);
    if (status != CNV_OK) {
        free(queue);
        return status;
    }
    __cds_wfcq_init(&queue->head, &queue->tail);
    *out = queue;
    return CNV_OK;
}

void cnv_overflow_queue_destroy(struct cnv_overflow_queue *queue) {
    if (queue == NULL) return;
    // Node memory goes with the pool.
    cnv_slab_pool_destroy(queue->nodes);
    free(queue);
}

int cnv_overflow_queue_enqueue(struct cnv_overflow_queue *queue, uintptr_t value) {
    struct cnv_overflow_node *node = cnv_slab_alloc(queue->nodes);
    if (node == NULL) return cnv_slab_pool_check(queue->nodes) == CNV_OK ? CNV_ENOMEM : CNV_EDESTROYED;
    cds_wfcq_node_init(&node->link);
    node->value = value;
    atomic_fetch_add_explicit(&queue->enqueued, 1, memory_order_relaxed);
    // liburcu's enqueue is a full barrier but TSan cannot see it: tell it about the hand-off.
    CNV_TSAN_RELEASE(node);
    cds_wfcq_enqueue(&queue->head, &queue->tail, &node->link);
    return CNV_OK;
}

int cnv_overflow_queue_drain(struct cnv_overflow_queue *queue, uintptr_t *values, size_t capacity,
                             size_t *taken) {
    if (taken == NULL || (values == NULL && capacity > 0)) return CNV_EINVAL;
    *taken = 0;
    uint32_t idle = 0;
    // One drainer at a time (wfcqueue's dequeue needs mutual exclusion); acquire pairs with
    // the previous drainer's release so its head updates are visible.
    if (!atomic_compare_exchange_strong_explicit(&queue->draining, &idle, 1, memory_order_acquire,
                                                 memory_order_relaxed)) {
        return CNV_EBUSY;
    }
    size_t count = 0;
    while (count < capacity) {
        struct cds_wfcq_node *link = __cds_wfcq_dequeue_nonblocking(&queue->head, &queue->tail);
        // WOULDBLOCK: an enqueuer swapped the tail but has not linked its node yet.
        if (link == NULL || link == CDS_WFCQ_WOULDBLOCK) break;
        struct cnv_overflow_node *node = caa_container_of(link, struct cnv_overflow_node, link);
        CNV_TSAN_ACQUIRE(node);
        values[count++] = node->value;
        cnv_slab_free(queue->nodes, node);
    }
    atomic_fetch_add_explicit(&queue->drained, count, memory_order_relaxed);
    atomic_store_explicit(&queue->draining, 0, memory_order_release);
    *taken = count;
    return CNV_OK;
}

uint64_t cnv_overflow_queue_count(struct cnv_overflow_queue *queue) {
    uint64_t drained = atomic_load_explicit(&queue->drained, memory_order_relaxed);
    uint64_t enqueued = atomic_load_explicit(&queue->enqueued, memory_order_relaxed);
    return enqueued >= drained ? enqueued - drained : 0;
}

uint64_t cnv_overflow_queue_bytes(struct cnv_overflow_queue *queue) {
    return cnv_overflow_queue_count(queue) * sizeof(struct cnv_overflow_node);
}

size_t cnv_overflow_queue_node_size(void) {
    return sizeof(struct cnv_overflow_node);
}

struct cnv_slab_pool *cnv_overflow_queue_node_pool(struct cnv_overflow_queue *queue) {
    return queue->nodes;
}
