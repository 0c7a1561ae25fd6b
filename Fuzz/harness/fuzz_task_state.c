// libFuzzer harness: the task record state machine (cnv_task.h: cnv_task_begin,
// cnv_task_transition, cnv_task_state_word) against a model of each record's generation and
// state, driven by a script of the engine's actors.
//
// The actors, each doing what the engine does with a record (Sources/Conveyor):
//   submitter      `cnv_task_begin` on a free record; its state word is the ticket
//                  (Conveyor+Submit.swift makeRecord/enqueue).
//   worker start   the worker's settle (Conveyor+Workers.swift `settle`): read the word; if
//                  QUEUED, either the deadline passed (transition to EXPIRED) or transition to
//                  RUNNING; if the transition lost, re-read the word (a cancel or a deadline
//                  timer won). After it the record is finished and free for reuse (the worker
//                  frees it, the next submit's `cnv_task_begin` reuses it).
//   canceller      `cnv_task_transition(ticket, CANCELLED)` (Conveyor.cancel), with the
//                  ticket of the current task or a stale one of an earlier generation.
//   deadline timer `cnv_task_transition(ticket, EXPIRED)` (Conveyor+Run.swift awaitedQueued).
//   wrap           a free record's generation is set to just below 2^56 (as if reused that
//                  often), so the next begins cross the generation wrap to 0.
// Single operations run on the fuzzing thread or on one of two helper threads
// (fuzz_helpers.h, one command at a time); a *race* op runs a worker start, a canceller and a
// deadline timer on one record at the same time on three threads (both helpers and the
// fuzzing thread, released together by a spin barrier), each with a ticket the script picks.
// Only one input in FUZZ_THREADED_ONE_IN (fuzz_helpers.h; 1,024 by default here) uses the helper threads; in the
// others every operation runs on the fuzzing thread and a race is played as an interleaving
// the script picks (the worker's read and its transition are separate steps, so "read QUEUED,
// then lose the transition to a cancel or a timer" happens in a chosen order), which checks
// every ordering of the protocol at a fraction of the cost; the threaded inputs check that
// the transitions are atomic (two real winners would be caught).
//
// Checked against the model after every operation:
//   - `cnv_task_begin` returns the next generation (mod 2^56) with state QUEUED;
//   - for each generation exactly one of start / cancel / expire wins (at most one at any
//     time, exactly one once the worker settled it; a race has exactly one winner when the
//     record was queued for the tickets' generation, and none otherwise);
//   - a stale ticket (an earlier generation, including one from before the wrap) never wins,
//     and neither does a ticket after its task was decided;
//   - the worker that lost sees CANCELLED or EXPIRED of its own generation, never QUEUED or
//     another generation;
//   - the state word is exactly what the model says (generation and state).
// Tickets issued before a wrap jump are dropped: a ticket 2^56 reuses old is indistinguishable
// by design (the word has 56 generation bits), which the model does not pretend otherwise.
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "cnv_task.h"
// One input in 1,024 threaded (fuzz_helpers.h): a threaded input costs ~8 ms of hand-offs and
// yields against ~30 µs for the others, so at 1 in 128 they took more than half the CPU time.
#define FUZZ_THREADED_DEFAULT 1024
#include "fuzz_helpers.h"
#include "fuzz_script.h"

#define RECORDS 4
#define TICKETS 64
#define HELPERS 2
#define GENERATION_MASK ((UINT64_C(1) << 56) - 1)

enum phase { FREE, QUEUED };

/// What the model knows of a record: its generation (mod 2^56) and the decision for it.
struct model_record {
    uint64_t generation;
    enum cnv_task_state state;  // the state bits the word must hold
    enum phase phase;           // FREE: settled and freed; QUEUED: in a queue, not yet taken by a worker
    int winners;                // transitions that won for this generation
};

struct ticket {
    int record;
    uint64_t word;
};

static _Alignas(16) struct cnv_task_record records[RECORDS];
static struct model_record model[RECORDS];
static struct ticket tickets[TICKETS];
static int ticket_count;  // valid entries (a ring once full)
static int ticket_next;
static struct fuzz_helper helpers[HELPERS];
static bool threaded;  // this input uses the helper threads (fuzz_input_threaded)
/// A threaded input's hand-offs: its first HANDOFFS helper operations, races and helper
/// replacements use the helper threads, the rest of its script runs on the fuzzing thread.
/// Each hand-off is a wake-up (under load, a scheduling delay), and a long fuzzed script of
/// race bursts made one threaded input cost as much as thousands of plain ones.
#define HANDOFFS 64
static int handoffs_left;

static bool hand_off(void) {
    if (!threaded || handoffs_left == 0) return false;
    handoffs_left--;
    return true;
}

static uint64_t word_of(uint64_t generation, enum cnv_task_state state) {
    return (generation & GENERATION_MASK) << CNV_TASK_STATE_BITS | (uint64_t)state;
}

static void check_word(int r) {
    uint64_t word = cnv_task_state_word(&records[r]);
    uint64_t expected = word_of(model[r].generation, model[r].state);
    FUZZ_CHECK(word == expected, "record %d: state word %#llx, model %#llx (generation %#llx, state %d)", r,
               (unsigned long long)word, (unsigned long long)expected, (unsigned long long)model[r].generation,
               (int)model[r].state);
    FUZZ_CHECK(model[r].winners <= 1, "record %d: %d transitions won generation %#llx", r, model[r].winners,
               (unsigned long long)model[r].generation);
}

// MARK: The actors, as the engine does them

/// The worker's settle (Conveyor+Workers.swift `settle`): the state it ends with and whether
/// its own transition won.
struct worker_job {
    struct cnv_task_record *record;
    bool deadline_passed;
    bool won;
    uint64_t final_word;
    uint64_t seen;  // the word its first read found
};

/// The settle's first step: the read.
static void worker_read(struct worker_job *job) {
    job->seen = cnv_task_state_word(job->record);
    job->won = false;
}

/// The settle's second step: the transition from what the read found (and the re-read when
/// it lost).
static void worker_decide(struct worker_job *job) {
    uint64_t state = job->seen;
    if ((state & CNV_TASK_STATE_MASK) == CNV_TASK_QUEUED) {
        enum cnv_task_state to = job->deadline_passed ? CNV_TASK_EXPIRED : CNV_TASK_RUNNING;
        if (cnv_task_transition(job->record, state, to)) {
            job->won = true;
            job->final_word = (state & ~CNV_TASK_STATE_MASK) | (uint64_t)to;
            return;
        }
        state = cnv_task_state_word(job->record);  // a cancel or a deadline timer won the race
    }
    job->final_word = state;
}

static void worker_settle(void *raw) {
    struct worker_job *job = raw;
    worker_read(job);
    worker_decide(job);
}

/// A canceller or a deadline timer with a ticket.
struct transition_job {
    struct cnv_task_record *record;
    uint64_t ticket;
    enum cnv_task_state to;
    bool won;
};

static void transition_run(void *raw) {
    struct transition_job *job = raw;
    job->won = cnv_task_transition(job->record, job->ticket, job->to);
}

// MARK: Concurrent races: commands posted to both helpers at once

static atomic_int race_gate;  // helpers spin until it is 1, so the three calls overlap
static atomic_int race_ready;
// The fuzzing thread sleeps here until both helpers are at the gate: waiting for a woken
// helper to be scheduled by spinning on sched_yield cost ~20 ms of system time per threaded
// input on the loaded machine (the helpers spin only for the one wake-up of this thread).
static pthread_mutex_t race_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t race_changed = PTHREAD_COND_INITIALIZER;

struct race_job {
    fuzz_command command;
    void *argument;
};

static void race_run(void *raw) {
    struct race_job *job = raw;
    pthread_mutex_lock(&race_lock);
    atomic_fetch_add_explicit(&race_ready, 1, memory_order_relaxed);  // read under race_lock
    pthread_cond_broadcast(&race_changed);
    pthread_mutex_unlock(&race_lock);
    for (unsigned spins = 0; atomic_load_explicit(&race_gate, memory_order_acquire) == 0; spins++) {
        if (spins >= 64) sched_yield();
    }
    job->command(job->argument);
}

static void race_wait_ready(int posted) {
    pthread_mutex_lock(&race_lock);
    while (atomic_load_explicit(&race_ready, memory_order_relaxed) < posted) pthread_cond_wait(&race_changed, &race_lock);
    pthread_mutex_unlock(&race_lock);
}

/// Posts `command` to a helper without waiting (the same hand-off as fuzz_helper_run).
static void helper_post(struct fuzz_helper *helper, fuzz_command command, void *argument) {
    pthread_mutex_lock(&helper->lock);
    helper->command = command;
    helper->argument = argument;
    pthread_cond_broadcast(&helper->changed);
    pthread_mutex_unlock(&helper->lock);
}

static void helper_wait(struct fuzz_helper *helper) {
    pthread_mutex_lock(&helper->lock);
    while (helper->command != NULL) pthread_cond_wait(&helper->changed, &helper->lock);
    pthread_mutex_unlock(&helper->lock);
}

/// Runs `command` on thread `thread` (0: this one, 1…HELPERS: a helper) and waits.
static void run_on(int thread, fuzz_command command, void *argument) {
    if (thread == 0 || !hand_off()) {
        command(argument);
    } else {
        fuzz_helper_run(&helpers[thread - 1], command, argument);
    }
}

// MARK: The model's side of each actor

static void add_ticket(int r, uint64_t word) {
    tickets[ticket_next] = (struct ticket){r, word};
    ticket_next = (ticket_next + 1) % TICKETS;
    if (ticket_count < TICKETS) ticket_count++;
}

static void drop_tickets(int r) {
    int kept = 0;
    struct ticket copy[TICKETS];
    for (int i = 0; i < ticket_count; i++) {
        // Oldest first, so the ring order survives.
        int index = (ticket_next - ticket_count + i + TICKETS) % TICKETS;
        if (tickets[index].record != r) copy[kept++] = tickets[index];
    }
    memcpy(tickets, copy, sizeof(struct ticket) * (size_t)kept);
    ticket_count = kept;
    ticket_next = kept % TICKETS;
}

/// Would a transition with `ticket` win now, by the model?
static bool model_wins(const struct ticket *ticket) {
    const struct model_record *m = &model[ticket->record];
    return m->phase != FREE && m->state == CNV_TASK_QUEUED && ticket->word == word_of(m->generation, CNV_TASK_QUEUED);
}

/// A ticket the script picks: the current task's, or any kept one (often stale). A free
/// record whose word still says QUEUED (fresh slab memory, or a submit refused after
/// `cnv_task_begin`) never handed its ticket out, so its "current" ticket is the previous
/// generation's.
static const struct ticket *pick_ticket(struct fuzz_script *script, int r, struct ticket *scratch) {
    uint8_t choice = fuzz_u8(script);
    if (choice & 1 || ticket_count == 0) {
        uint64_t generation = model[r].generation;
        if (model[r].phase == FREE && model[r].state == CNV_TASK_QUEUED) generation = (generation - 1) & GENERATION_MASK;
        scratch->record = r;
        scratch->word = word_of(generation, CNV_TASK_QUEUED);
        return scratch;
    }
    return &tickets[(choice >> 1) % ticket_count];
}

static void op_begin(int r) {
    if (model[r].phase != FREE) return;  // only a finished record is reused
    uint64_t word = cnv_task_begin(&records[r]);
    uint64_t generation = (model[r].generation + 1) & GENERATION_MASK;
    FUZZ_CHECK(word == word_of(generation, CNV_TASK_QUEUED), "begin on record %d returned %#llx, expected generation %#llx",
               r, (unsigned long long)word, (unsigned long long)generation);
    model[r] = (struct model_record){generation, CNV_TASK_QUEUED, QUEUED, 0};
    add_ticket(r, word);
}

static void op_wrap(int r, uint8_t below, uint8_t leftover) {
    if (model[r].phase != FREE) return;
    // The last settled state stays in the low bits of a freed record; begin must ignore it.
    enum cnv_task_state states[] = {CNV_TASK_RUNNING, CNV_TASK_CANCELLED, CNV_TASK_EXPIRED, CNV_TASK_QUEUED};
    uint64_t generation = (GENERATION_MASK - (below % 4)) & GENERATION_MASK;
    enum cnv_task_state state = states[leftover % 4];
    __atomic_store_n(&records[r].state, word_of(generation, state), __ATOMIC_RELAXED);
    model[r].generation = generation;
    model[r].state = state;
    drop_tickets(r);
}

static void op_transition(int thread, const struct ticket *ticket, enum cnv_task_state to) {
    struct ticket copy = *ticket;
    bool expected = model_wins(&copy);
    struct transition_job job = {&records[copy.record], copy.word, to, false};
    run_on(thread, transition_run, &job);
    FUZZ_CHECK(job.won == expected, "%s with ticket %#llx on record %d (generation %#llx, state %d): won %d, model %d",
               to == CNV_TASK_CANCELLED ? "cancel" : "deadline", (unsigned long long)copy.word, copy.record,
               (unsigned long long)model[copy.record].generation, (int)model[copy.record].state, job.won, expected);
    if (job.won) {
        model[copy.record].state = to;
        model[copy.record].winners++;
    }
}

/// The model's side of a worker settle that ran: its view must be consistent, and afterwards
/// the record's task is decided (exactly one winner) and the record is free for reuse.
static void settled(int r, const struct worker_job *job) {
    struct model_record *m = &model[r];
    uint64_t generation_bits = word_of(m->generation, CNV_TASK_QUEUED);
    FUZZ_CHECK((job->final_word & ~CNV_TASK_STATE_MASK) == generation_bits,
               "worker on record %d saw generation %#llx, the task's is %#llx", r,
               (unsigned long long)(job->final_word >> CNV_TASK_STATE_BITS), (unsigned long long)m->generation);
    enum cnv_task_state seen = (enum cnv_task_state)(job->final_word & CNV_TASK_STATE_MASK);
    if (job->won) {
        FUZZ_CHECK(seen == (job->deadline_passed ? CNV_TASK_EXPIRED : CNV_TASK_RUNNING), "worker won but saw state %d", (int)seen);
        m->state = seen;
        m->winners++;
    } else {
        FUZZ_CHECK(seen == CNV_TASK_CANCELLED || seen == CNV_TASK_EXPIRED,
                   "worker on record %d lost but saw state %d (neither cancelled nor expired)", r, (int)seen);
        FUZZ_CHECK(seen == m->state, "worker on record %d saw state %d, the winner set %d", r, (int)seen, (int)m->state);
    }
    FUZZ_CHECK(m->winners == 1, "record %d generation %#llx settled with %d winners", r, (unsigned long long)m->generation,
               m->winners);
    m->phase = FREE;
}

static void op_worker(int thread, int r, bool deadline_passed) {
    if (model[r].phase != QUEUED) return;  // only a queued record is dequeued
    bool queued = model[r].state == CNV_TASK_QUEUED;
    struct worker_job job = {&records[r], deadline_passed, false, 0, 0};
    run_on(thread, worker_settle, &job);
    FUZZ_CHECK(job.won == queued, "worker on record %d: won %d, model %d", r, job.won, queued);
    settled(r, &job);
}

/// The steps of a race played on one thread, and their orders (the worker reads first).
enum race_step { STEP_READ, STEP_DECIDE, STEP_CANCEL, STEP_EXPIRE };
static const uint8_t race_orders[12][4] = {
    {STEP_READ, STEP_DECIDE, STEP_CANCEL, STEP_EXPIRE}, {STEP_READ, STEP_DECIDE, STEP_EXPIRE, STEP_CANCEL},
    {STEP_READ, STEP_CANCEL, STEP_DECIDE, STEP_EXPIRE}, {STEP_READ, STEP_EXPIRE, STEP_DECIDE, STEP_CANCEL},
    {STEP_READ, STEP_CANCEL, STEP_EXPIRE, STEP_DECIDE}, {STEP_READ, STEP_EXPIRE, STEP_CANCEL, STEP_DECIDE},
    {STEP_CANCEL, STEP_READ, STEP_DECIDE, STEP_EXPIRE}, {STEP_EXPIRE, STEP_READ, STEP_DECIDE, STEP_CANCEL},
    {STEP_CANCEL, STEP_READ, STEP_EXPIRE, STEP_DECIDE}, {STEP_EXPIRE, STEP_READ, STEP_CANCEL, STEP_DECIDE},
    {STEP_CANCEL, STEP_EXPIRE, STEP_READ, STEP_DECIDE}, {STEP_EXPIRE, STEP_CANCEL, STEP_READ, STEP_DECIDE},
};

/// A worker start, a cancel and a deadline timer on one record at the same time (or, in an
/// input without threads, in the order the shape byte picks). With the
/// worker out (the record's task already decided by an earlier race or op), the cancel and
/// the timer still race each other. Either ticket may be stale or name another record.
static void op_race(struct fuzz_script *script, int r) {
    if (model[r].phase == FREE) return;
    uint8_t shape = fuzz_u8(script);
    bool with_worker = model[r].phase == QUEUED && (shape & 1);
    bool deadline_passed = (shape & 2) != 0;
    struct ticket scratch_cancel, scratch_expire;
    struct ticket cancel_ticket = *pick_ticket(script, r, &scratch_cancel);
    struct ticket expire_ticket = *pick_ticket(script, r, &scratch_expire);
    bool cancel_may = model_wins(&cancel_ticket);
    bool expire_may = model_wins(&expire_ticket);
    // Before the race: which records are still open for their current task.
    bool open[RECORDS];
    for (int i = 0; i < RECORDS; i++) open[i] = model[i].phase != FREE && model[i].state == CNV_TASK_QUEUED;

    struct worker_job worker = {&records[r], deadline_passed, false, 0, 0};
    struct transition_job cancel = {&records[cancel_ticket.record], cancel_ticket.word, CNV_TASK_CANCELLED, false};
    struct transition_job expire = {&records[expire_ticket.record], expire_ticket.word, CNV_TASK_EXPIRED, false};
    if (hand_off()) {
        struct race_job jobs[2] = {{transition_run, &cancel}, {worker_settle, &worker}};
        atomic_store_explicit(&race_gate, 0, memory_order_relaxed);
        atomic_store_explicit(&race_ready, 0, memory_order_relaxed);
        int posted = with_worker ? 2 : 1;
        for (int i = 0; i < posted; i++) helper_post(&helpers[i], race_run, &jobs[i]);
        race_wait_ready(posted);
        atomic_store_explicit(&race_gate, 1, memory_order_release);
        transition_run(&expire);
        for (int i = 0; i < posted; i++) helper_wait(&helpers[i]);
    } else {
        // One of the 12 orders of read < decide, cancel, timer (without the worker: the
        // cancel and the timer in that order's relative order).
        const uint8_t *order = race_orders[(shape >> 2) % 12];
        for (int k = 0; k < 4; k++) {
            switch (order[k]) {
            case STEP_READ: if (with_worker) worker_read(&worker); break;
            case STEP_DECIDE: if (with_worker) worker_decide(&worker); break;
            case STEP_CANCEL: transition_run(&cancel); break;
            default: transition_run(&expire); break;
            }
        }
    }

    // A winning ticket must name its record's queued task (a stale one never wins).
    FUZZ_CHECK(!cancel.won || cancel_may, "a cancel with ticket %#llx won; it names no queued task",
               (unsigned long long)cancel_ticket.word);
    FUZZ_CHECK(!expire.won || expire_may, "a deadline timer with ticket %#llx won; it names no queued task",
               (unsigned long long)expire_ticket.word);
    // Per record: exactly one winner among the contenders that could win it, none otherwise.
    for (int x = 0; x < RECORDS; x++) {
        bool cancel_here = cancel_ticket.record == x, expire_here = expire_ticket.record == x;
        bool worker_here = with_worker && x == r;
        if (!cancel_here && !expire_here && !worker_here) continue;
        int winners = (cancel_here && cancel.won) + (expire_here && expire.won) + (worker_here && worker.won);
        bool contenders = worker_here || (cancel_here && cancel_may) || (expire_here && expire_may);
        FUZZ_CHECK(winners == (open[x] && contenders ? 1 : 0),
                   "race on record %d: %d winners (open %d, worker %d, cancel may %d, timer may %d)", x, winners, open[x],
                   worker_here, cancel_here && cancel_may, expire_here && expire_may);
        if (cancel_here && cancel.won) {
            model[x].state = CNV_TASK_CANCELLED;
            model[x].winners++;
        } else if (expire_here && expire.won) {
            model[x].state = CNV_TASK_EXPIRED;
            model[x].winners++;
        }
    }
    if (with_worker) settled(r, &worker);  // counts the worker's win, checks its view
}

/// Many rounds of submit + race on one record with the current task's tickets: races that
/// overlap are rare on a loaded machine, so a burst gives each input many chances.
static void op_race_burst(struct fuzz_script *script, int r) {
    uint8_t rounds = (uint8_t)(fuzz_u8(script) % 32 + 1);
    uint8_t shape = fuzz_u8(script);
    for (int round = 0; round < rounds; round++) {
        if (model[r].phase == QUEUED) op_worker(0, r, false);
        op_begin(r);
        // One script byte per round would make bursts costly to find; derive the shape.
        // The order of an unthreaded race from the round and the shape (bits 2…7).
        uint8_t bytes[3] = {(uint8_t)(1 | ((shape >> (round % 7)) & 2) | (uint8_t)((round * 5 + shape) << 2)), 1, 1};
        struct fuzz_script inner = fuzz_script_make(bytes, sizeof bytes);
        op_race(&inner, r);
    }
}

static void op_replace_helper(int index) {
    if (!hand_off()) return;
    fuzz_helper_stop(&helpers[index]);
    fuzz_helper_start(&helpers[index]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fuzz_script script = fuzz_script_make(data, size);
    threaded = fuzz_input_threaded(data, size);
    // The helpers live across inputs (thread creation would dominate the run); op 14
    // replaces one.
    for (int i = 0; threaded && i < HELPERS; i++) {
        if (!helpers[i].running) fuzz_helper_start(&helpers[i]);
    }
    // Records start from slab memory of an earlier life: any generation, any leftover state.
    for (int r = 0; r < RECORDS; r++) {
        uint64_t start = fuzz_u64(&script);
        __atomic_store_n(&records[r].state, start, __ATOMIC_RELAXED);
        model[r] = (struct model_record){start >> CNV_TASK_STATE_BITS, (enum cnv_task_state)(start & 3), FREE, 0};
        if ((start & CNV_TASK_STATE_MASK) > 3) {
            // State bits outside the enum: normalise, as the model's state holds only 2 bits.
            __atomic_store_n(&records[r].state, start & ~(uint64_t)0xfc, __ATOMIC_RELAXED);
        }
    }
    ticket_count = 0;
    ticket_next = 0;

    handoffs_left = HANDOFFS;
    for (int steps = 0; !fuzz_script_done(&script) && steps < 4096; steps++) {
        uint8_t op = fuzz_u8(&script);
        int r = (op >> 4) % RECORDS;
        int thread = (op >> 6) % (HELPERS + 1);
        struct ticket scratch;
        switch (op & 0x0f) {
        case 0:
        case 1:
        case 2:
            op_begin(r);
            break;
        case 3:
        case 4:
            op_transition(thread, pick_ticket(&script, r, &scratch), CNV_TASK_CANCELLED);
            break;
        case 5:
        case 6:
            op_transition(thread, pick_ticket(&script, r, &scratch), CNV_TASK_EXPIRED);
            break;
        case 7:
        case 8:
            op_worker(thread, r, false);
            break;
        case 9:
            op_worker(thread, r, true);
            break;
        case 10:
        case 11:
            op_race(&script, r);
            break;
        case 12:
            op_race_burst(&script, r);
            break;
        case 13: {
            uint8_t below = fuzz_u8(&script);
            op_wrap(r, below, fuzz_u8(&script));
            break;
        }
        case 14:
            op_replace_helper(r % HELPERS);
            break;
        default:
            // Finish every queued record (a drain): each one settled exactly once.
            for (int i = 0; i < RECORDS; i++) op_worker(thread, i, (op >> 4) & 1);
            break;
        }
        for (int i = 0; i < RECORDS; i++) check_word(i);
    }
    for (int r = 0; r < RECORDS; r++) op_worker(0, r, false);
    return 0;
}
