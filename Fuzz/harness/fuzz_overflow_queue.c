// libFuzzer harness: the overflow queue (cnv_overflow_queue.{h,c}, liburcu wfcqueue over a
// slab pool) against a model FIFO.
//
// The fuzzing thread and two helper threads (fuzz_helpers.h) enqueue and drain: values
// enqueued on one thread are drained on another, node memory is allocated in one thread's
// magazines and freed into another's. Operations: enqueue one or a burst, drain with a
// capacity (0 included), count and bytes reads, node-pool statistics, replace a helper.
// Only one input in FUZZ_THREADED_ONE_IN (fuzz_helpers.h) runs the helpers' commands on the
// helper threads; the others run them on the fuzzing thread (same script).
// The queue (and its node pool, with its slabs) is kept across inputs: each input starts from
// the empty queue the last one left and drains it to empty at the end (a fresh queue per
// input spent its time creating and destroying the pool's mappings). One input in
// FRESH_ONE_IN (by the input's hash) uses a fresh queue, and half of those (even sizes)
// destroy it with entries left.
//
// Checked: every drain returns exactly the model's oldest values in FIFO order, as many as
// the capacity allows (a quiescent queue never stops early), and writes nothing past what it
// returns; count and bytes match the model; the node pool holds exactly one live object per
// queued value; bad arguments are refused with CNV_EINVAL; destroying a non-empty queue
// leaks nothing (LeakSanitizer checks at exit).
#include <string.h>

#include "cnv_overflow_queue.h"
#include "fuzz_helpers.h"
#include "fuzz_script.h"

#define HELPERS 2
#define MAX_QUEUED 8192
#define SENTINEL ((uintptr_t)0x5A5A5A5A5A5A5A5AULL)

static struct fuzz_helper helpers[HELPERS];
static bool threaded;  // this input uses the helper threads (fuzz_input_threaded)
static struct cnv_overflow_queue *queue;
static uintptr_t model[MAX_QUEUED];
static size_t model_head, model_count;
static uintptr_t next_value;
static struct cnv_overflow_queue *kept_queue;
#define FRESH_ONE_IN 16

struct enqueue_command {
    size_t count;
    uintptr_t first;
    int failures;
};

static void do_enqueue(void *raw) {
    struct enqueue_command *command = raw;
    for (size_t i = 0; i < command->count; i++) {
        if (cnv_overflow_queue_enqueue(queue, command->first + i) != CNV_OK) command->failures++;
    }
}

struct drain_command {
    size_t capacity;
    size_t taken;
    int status;
    uintptr_t values[300];
};

static void do_drain(void *raw) {
    struct drain_command *command = raw;
    command->status = cnv_overflow_queue_drain(queue, command->values, command->capacity, &command->taken);
}

static void run_on(int thread, fuzz_command command, void *argument) {
    if (thread == 0) command(argument);
    else fuzz_helper_run(&helpers[thread - 1], command, argument);
}

static void enqueue_on(int thread, size_t count) {
    if (count > MAX_QUEUED - model_count) count = MAX_QUEUED - model_count;
    struct enqueue_command command = {count, next_value, 0};
    run_on(thread, do_enqueue, &command);
    FUZZ_CHECK(command.failures == 0, "%d enqueues failed", command.failures);
    for (size_t i = 0; i < count; i++) model[(model_head + model_count + i) % MAX_QUEUED] = next_value + i;
    model_count += count;
    next_value += count;
}

static void drain_on(int thread, size_t capacity) {
    static struct drain_command command;
    command.capacity = capacity;
    command.taken = 12345;
    command.status = -100;
    for (size_t i = 0; i < 300; i++) command.values[i] = SENTINEL;
    run_on(thread, do_drain, &command);
    FUZZ_CHECK(command.status == CNV_OK, "drain %d", command.status);
    size_t want = capacity < model_count ? capacity : model_count;
    FUZZ_CHECK(command.taken == want, "drained %zu with capacity %zu and %zu queued", command.taken, capacity,
               model_count);
    for (size_t i = 0; i < command.taken; i++) {
        uintptr_t expected = model[model_head];
        model_head = (model_head + 1) % MAX_QUEUED;
        model_count--;
        FUZZ_CHECK(command.values[i] == expected, "drained %lu at %zu, expected %lu", (unsigned long)command.values[i],
                   i, (unsigned long)expected);
    }
    for (size_t i = command.taken; i < 300; i++) FUZZ_CHECK(command.values[i] == SENTINEL, "wrote past %zu", command.taken);
}

static void check_counts(void) {
    FUZZ_CHECK(cnv_overflow_queue_count(queue) == model_count, "count %llu, model %zu",
               (unsigned long long)cnv_overflow_queue_count(queue), model_count);
    uint64_t bytes = cnv_overflow_queue_bytes(queue);
    FUZZ_CHECK(bytes % (model_count == 0 ? 1 : model_count) == 0 && (model_count == 0) == (bytes == 0),
               "bytes %llu for %zu entries", (unsigned long long)bytes, model_count);
    struct cnv_slab_stats stats;
    FUZZ_CHECK(cnv_slab_pool_stats(cnv_overflow_queue_node_pool(queue), &stats) == CNV_OK, "node pool stats");
    FUZZ_CHECK(stats.objects_in_use == model_count, "%llu nodes in use for %zu entries",
               (unsigned long long)stats.objects_in_use, model_count);
    if (model_count > 0) FUZZ_CHECK(bytes / model_count == stats.object_size, "node size");
}

/// At exit the helpers leave like any thread: their TLS destructors hand their caches back
/// and free their tables before LeakSanitizer looks.
static void stop_helpers(void) {
    for (int i = 0; i < HELPERS; i++) fuzz_helper_stop(&helpers[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool started, helpers_started;
    if (!started) {
        // Argument checks, once.
        FUZZ_CHECK(cnv_overflow_queue_create(CNV_SLAB_BACKING_MMAP, NULL) == CNV_EINVAL, "create(NULL)");
        started = true;
    }
    threaded = fuzz_input_threaded(data, size);
    if (threaded && !helpers_started) {
        for (int i = 0; i < HELPERS; i++) fuzz_helper_start(&helpers[i]);
        atexit(stop_helpers);
        helpers_started = true;
    }
    struct fuzz_script script = fuzz_script_make(data, size);
    bool fresh = fuzz_input_hash(data, size) % FRESH_ONE_IN == 0;
    if (fresh) {
        FUZZ_CHECK(cnv_overflow_queue_create(CNV_SLAB_BACKING_MMAP, &queue) == CNV_OK, "create");
    } else {
        if (kept_queue == NULL) FUZZ_CHECK(cnv_overflow_queue_create(CNV_SLAB_BACKING_MMAP, &kept_queue) == CNV_OK, "create");
        queue = kept_queue;
    }
    model_head = model_count = 0;
    check_counts();  // a kept queue was left empty, its node pool with no node in use
    next_value = 1;
    {
        size_t taken = 7;
        FUZZ_CHECK(cnv_overflow_queue_drain(queue, NULL, 1, &taken) == CNV_EINVAL, "drain(NULL values)");
        FUZZ_CHECK(cnv_overflow_queue_drain(queue, NULL, 0, NULL) == CNV_EINVAL, "drain(NULL taken)");
        FUZZ_CHECK(cnv_overflow_queue_drain(queue, NULL, 0, &taken) == CNV_OK && taken == 0, "drain(capacity 0)");
    }
    while (!fuzz_script_done(&script)) {
        uint8_t op = fuzz_u8(&script);
        uint8_t argument = fuzz_u8(&script);
        int thread = threaded ? (op >> 4) % (HELPERS + 1) : 0;
        switch (op % 6) {
        case 0: enqueue_on(thread, 1); break;
        case 1: enqueue_on(thread, argument); break;  // bursts up to 255 (765 cost 3 times the CPU)
        case 2: drain_on(thread, 1); break;
        case 3: drain_on(thread, argument); break;
        case 4: check_counts(); break;
        default:
            if (thread > 0) {
                fuzz_helper_stop(&helpers[thread - 1]);
                fuzz_helper_start(&helpers[thread - 1]);
            } else {
                check_counts();
            }
            break;
        }
    }
    check_counts();
    // Half the fresh queues are destroyed with entries left (the nodes go with the pool); the
    // kept queue is drained to empty for the next input.
    if (!fresh || (size & 1) == 0) {
        while (model_count > 0) drain_on(0, 300);
        check_counts();
    }
    if (fresh) cnv_overflow_queue_destroy(queue);
    queue = NULL;
    return 0;
}
