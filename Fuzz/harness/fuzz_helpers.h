// Helper threads for the harnesses: each runs one command at a time for the fuzzing thread,
// which waits for it to finish. So the script stays deterministic while allocations, frees
// and enqueues really happen on other threads (their own thread caches, their own TLS), and
// a helper can exit and be replaced (its thread-exit destructor then runs).
#ifndef CNV_FUZZ_HELPERS_H
#define CNV_FUZZ_HELPERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "cnv_slab_pool.h"
#include "fuzz_script.h"

typedef void (*fuzz_command)(void *argument);

struct fuzz_helper {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    fuzz_command command;  // NULL: idle
    void *argument;
    bool exit;
    bool running;
    /// The helper's slab TLS table, copied after each command. LeakSanitizer's per-input
    /// check does not see other threads' static TLS, where the only pointer to the table
    /// lives; this copy keeps it reachable (the thread's exit destructor frees it, and that
    /// path is leak-checked at exit).
    void *tls_table;
};

static void *fuzz_helper_main(void *raw) {
    struct fuzz_helper *helper = raw;
    pthread_mutex_lock(&helper->lock);
    for (;;) {
        while (helper->command == NULL && !helper->exit) pthread_cond_wait(&helper->changed, &helper->lock);
        if (helper->command == NULL && helper->exit) break;
        fuzz_command command = helper->command;
        void *argument = helper->argument;
        pthread_mutex_unlock(&helper->lock);
        command(argument);
        pthread_mutex_lock(&helper->lock);
        helper->tls_table = cnv_slab_tls_table;
        helper->command = NULL;
        pthread_cond_broadcast(&helper->changed);
    }
    pthread_mutex_unlock(&helper->lock);
    return NULL;
}

static void fuzz_helper_start(struct fuzz_helper *helper) {
    pthread_mutex_init(&helper->lock, NULL);
    pthread_cond_init(&helper->changed, NULL);
    helper->command = NULL;
    helper->exit = false;
    FUZZ_CHECK(pthread_create(&helper->thread, NULL, fuzz_helper_main, helper) == 0, "pthread_create");
    helper->running = true;
}

/// Runs `command(argument)` on the helper and returns once it finished (the mutex hand-off
/// orders everything the helper did before everything the caller does next).
static void fuzz_helper_run(struct fuzz_helper *helper, fuzz_command command, void *argument) {
    pthread_mutex_lock(&helper->lock);
    helper->command = command;
    helper->argument = argument;
    pthread_cond_broadcast(&helper->changed);
    while (helper->command != NULL) pthread_cond_wait(&helper->changed, &helper->lock);
    pthread_mutex_unlock(&helper->lock);
}

/// FNV-1a of the whole input: a choice made from it draws again on every mutation and stays
/// the same when a saved input replays.
__attribute__((no_sanitize("coverage"))) static uint64_t fuzz_input_hash(const uint8_t *data, size_t size) {
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < size; i++) hash = (hash ^ data[i]) * UINT64_C(0x100000001b3);
    return hash;
}

/// Whether this input runs its helper-thread commands on the helper threads (otherwise every
/// command runs on the fuzzing thread). A hand-off to a helper costs a wake-up and, on a loaded
/// machine, a scheduling delay: 10-100 times the rest of an input. So one input in
/// `FUZZ_THREADED_ONE_IN` (environment, default FUZZ_THREADED_DEFAULT: 128 unless the harness
/// sets it; 1: every input) is threaded, picked by a
/// hash of the whole input: a mutation draws again, and a saved input always replays the same
/// way. Fuzz/run.sh replays the committed corpus with every input threaded first. A harness
/// may define FUZZ_THREADED_DEFAULT (before including this file) for its own default.
#ifndef FUZZ_THREADED_DEFAULT
#define FUZZ_THREADED_DEFAULT 128
#endif
__attribute__((no_sanitize("coverage"))) static bool fuzz_input_threaded(const uint8_t *data, size_t size) {
    static unsigned long one_in;
    if (one_in == 0) {
        const char *setting = getenv("FUZZ_THREADED_ONE_IN");
        one_in = setting != NULL ? strtoul(setting, NULL, 10) : FUZZ_THREADED_DEFAULT;
        if (one_in == 0) one_in = FUZZ_THREADED_DEFAULT;
    }
    return (fuzz_input_hash(data, size) >> 32) % one_in == 0;
}

/// Lets the helper thread exit (running its TLS destructors) and waits for it.
static void fuzz_helper_stop(struct fuzz_helper *helper) {
    if (!helper->running) return;
    pthread_mutex_lock(&helper->lock);
    helper->exit = true;
    pthread_cond_broadcast(&helper->changed);
    pthread_mutex_unlock(&helper->lock);
    pthread_join(helper->thread, NULL);
    pthread_cond_destroy(&helper->changed);
    pthread_mutex_destroy(&helper->lock);
    helper->running = false;
}

#endif  // CNV_FUZZ_HELPERS_H
