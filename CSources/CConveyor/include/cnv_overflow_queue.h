// Unbounded overflow queue on liburcu's wfcqueue: wait-free enqueue from any thread,
// non-blocking dequeue by one drainer at a time. Node memory comes from a slab pool.
//
// It is off the plain per-task path: tasks reach it only when a ring is full. The layout
// stays in the .c file (liburcu headers never reach Swift), so the calls are out of line.
//
// liburcu is not instrumented for ThreadSanitizer; under TSan the hand-off of each node is
// annotated with __tsan_release before enqueue and __tsan_acquire after dequeue.
#ifndef CNV_OVERFLOW_QUEUE_H
#define CNV_OVERFLOW_QUEUE_H

#include "cnv_common.h"
#include "cnv_slab_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cnv_overflow_queue;

/// Creates a queue whose nodes come from a new slab pool with `backing`.
int cnv_overflow_queue_create(enum cnv_slab_backing backing, struct cnv_overflow_queue **out);
/// Destroys the queue; entries still queued are dropped (drain first).
void cnv_overflow_queue_destroy(struct cnv_overflow_queue *queue);
/// Appends a value. Wait-free apart from the node allocation (a magazine pop). CNV_ENOMEM
/// when no node could be allocated.
int cnv_overflow_queue_enqueue(struct cnv_overflow_queue *queue, uintptr_t value);
/// Takes up to `capacity` values in FIFO order into `values`; stores how many in `*taken`.
/// CNV_EBUSY when another thread is draining. Stops early (fewer values, CNV_OK) when an
/// enqueuer is between its two steps, instead of waiting for it.
int cnv_overflow_queue_drain(struct cnv_overflow_queue *queue, uintptr_t *values, size_t capacity,
                             size_t *taken);
/// Entries queued (enqueued − drained; a snapshot).
uint64_t cnv_overflow_queue_count(struct cnv_overflow_queue *queue);
/// Bytes of node memory the entries occupy (count × node size).
uint64_t cnv_overflow_queue_bytes(struct cnv_overflow_queue *queue);
/// Bytes of one node (what each queued entry takes).
size_t cnv_overflow_queue_node_size(void);
/// The slab pool the nodes come from (for statistics).
struct cnv_slab_pool *cnv_overflow_queue_node_pool(struct cnv_overflow_queue *queue);

#ifdef __cplusplus
}
#endif

#endif  // CNV_OVERFLOW_QUEUE_H
