/*
 * Model of Conveyor's shutdown/drain protocol: 2 submitters x 2 workers x a shutdown.
 *
 * Version checked: the submission gate of today (cnv_gate.h / cnv_gate.c: sharded in-flight
 * counters and an `open` word), as on branch `proofs2` (merge base ac6f252). Issue 10 may
 * replace the gate with a CLOSED bit in the engine's slot word; this model does not cover
 * that version.
 *
 * Code modelled:
 *   CSources/CConveyor/include/cnv_gate.h      cnv_gate_enter, cnv_gate_leave
 *   CSources/CConveyor/cnv_gate.c              cnv_gate_close_and_wait
 *   Sources/Conveyor/Engine/Conveyor+Submit.swift   enqueue (gate enter, cnv_task_begin,
 *                                              cnv_mpmc_try_enqueue, notify, gate leave)
 *   CSources/CConveyor/include/cnv_mpmc_ring.h cnv_mpmc__enqueue (tail CAS, slot publish),
 *                                              dequeue (slot at head, head CAS)
 *   Sources/Conveyor/Engine/Conveyor+Workers.swift  workerMain (mode checks, takeBatch,
 *                                              handBack when stopping, draining exit)
 *   Sources/Conveyor/Engine/Conveyor+Lifecycle.swift shutdown (close and wait, mode store,
 *                                              unparkAll, waitForWorkersToExit, sweep,
 *                                              failUnstarted)
 *
 * Abstracted: the park/wake protocol (Models/parking.pml checks it): a worker with nothing
 * to do waits until its wait predicate (queued work visible, or the mode is not running)
 * holds, i.e. no wake-up is lost. Async tasks, executor jobs, batch accumulators, the
 * overflow queue and `.wait` submits are left out (the ring never fills). Cancel and
 * deadlines are not modelled here (Fuzz/harness/fuzz_task_state.c checks the task state
 * machine): a task is settled by running or, under stop, as notStarted.
 *
 * Memory model (as in parking.pml): each submitter and the shutdown thread write through a
 * FIFO store buffer that drains into memory at any time (a flusher process per thread);
 * their loads read their own buffer first. A seq_cst store or read-modify-write is modelled
 * as: drain the buffer, then write memory directly (the x86 mapping, and what C11's single
 * total order of seq_cst operations gives for a seq_cst write followed by a seq_cst load of
 * another word). A release store or relaxed read-modify-write is buffered: a later load of
 * another word can be satisfied before it is visible (store->load reordering). The FIFO
 * keeps stores in program order (release). Workers write only the ring head (CAS) and the
 * bookkeeping, written through (as in parking.pml).
 *
 * Properties (pan, safety):
 *   - no accepted task lost: when shutdown returns, every accepted task was settled exactly
 *     once; with drain: true each one ran (none notStarted); with drain: false each one ran
 *     or was reported notStarted;
 *   - no task runs twice or is settled twice (assert);
 *   - no submit is accepted after shutdown returned (assert at the accept point);
 *   - no deadlock / invalid end state: every submitter, worker and the shutdown finish.
 *
 * Mutants (each must fail):
 *   -DMUTANT_WEAK_ENTER   the submitter's increment / `open` load pair not seq_cst (e.g. the
 *                         load weakened to acquire): the increment may stay in the buffer
 *                         while `open` is read
 *   -DMUTANT_WEAK_CLOSE   the closer's `open` store weakened to release: it may stay in the
 *                         buffer while the shards are read
 *   -DMUTANT_RELAXED_LEAVE cnv_gate_leave's decrement relaxed: it may become visible before
 *                         the enqueue's slot publish (modelled as bypassing the FIFO)
 *   -DMUTANT_NO_WAIT      cnv_gate_close_and_wait returns without waiting for the shards
 *   -DMUTANT_NO_SWEEP     shutdown skips the sweep after the workers exit (a stopping worker's
 *                         handed-back task, or one left queued, is never settled)
 */

#define PRODUCERS 2
#define WORKERS 2
#define N PRODUCERS            /* one task per submitter */
#define NP (PRODUCERS + 1)     /* buffered threads: 0,1 submitters; 2 the shutdown */
#define SHUTDOWN_ID PRODUCERS
#define W0 3                   /* worker ids (unbuffered) */
#ifndef B
#define B 3
#endif

/* Words of shared memory. */
#define OPEN 0
#define SHARD 1                /* SHARD + 0, SHARD + 1: the gate's in-flight counters */
#define TAIL 3
#define HEAD 4
#define MODE 5
#define PUB 6                  /* PUB + position: slot published */
#define NV (PUB + N)

#define RUNNING 0
#define DRAINING 2
#define STOPPING 3

byte mem[NV];
byte bv[NP * B];
byte bx[NP * B];
byte bn[NP];
byte pend[NV];
byte pown[NV];

/* Abstract bookkeeping (sequentially consistent, not part of the protocol). */
byte accepted;             /* tasks whose enqueue took a ring position */
byte refused;
byte ran;
byte not_started;
byte settled[N];           /* times each position was settled */
byte handed_back;          /* positions handed back by a stopping worker */
bool handoff[N];
byte workers_exited;
bool returned;             /* shutdown returned */
bool drain;

inline load(me, v, r) {
    d_step {
        r = mem[v];
        k = 0;
        do
        :: k < bn[me] -> if :: bv[me * B + k] == v -> r = bx[me * B + k] :: else -> skip fi; k++
        :: else -> break
        od;
        k = 0
    }
}

/* A buffered (release or relaxed) store. */
inline store(me, v, x) {
    atomic {
        bn[me] < B ->
        bv[me * B + bn[me]] = v;
        bx[me * B + bn[me]] = x;
        bn[me]++;
        pend[v]++;
        pown[v] = me
    }
}

/* A buffered read-modify-write: reads the newest value, buffers the result. */
inline rmw_add(me, v, delta, old) {
    atomic {
        (pend[v] == 0 || pown[v] == me) && bn[me] < B ->
        load(me, v, old);
        bv[me * B + bn[me]] = v;
        bx[me * B + bn[me]] = old + delta;
        bn[me]++;
        pend[v]++;
        pown[v] = me
    }
}

inline fence(me) {
    bn[me] == 0
}

/* A seq_cst store or read-modify-write: the buffer drains, then memory is written. */
inline sc_add(me, v, delta, old) {
    fence(me);
    atomic { pend[v] == 0 -> old = mem[v]; mem[v] = old + delta }
}

inline sc_store(me, v, x) {
    fence(me);
    atomic { pend[v] == 0 -> mem[v] = x }
}

/* A write straight to memory while older writes of the thread are still buffered (a relaxed
   store that overtakes them: only the RELAXED_LEAVE mutant does this). */
inline bypass_add(me, v, delta) {
    atomic { pend[v] == 0 -> mem[v] = mem[v] + delta }
}

proctype flusher(byte me) {
    byte i, w;
end:
    do
    :: d_step {
           bn[me] > 0 ->
           w = bv[me * B];
           mem[w] = bx[me * B];
           pend[w]--;
           if :: pend[w] == 0 -> pown[w] = 0 :: else -> skip fi;
           i = 1;
           do
           :: i < bn[me] -> bv[me * B + i - 1] = bv[me * B + i]; bx[me * B + i - 1] = bx[me * B + i]; i++
           :: else -> break
           od;
           bn[me]--;
           bv[me * B + bn[me]] = 0;
           bx[me * B + bn[me]] = 0;
           i = 0;
           w = 0
       }
    od
}

/* Conveyor.enqueue (Conveyor+Submit.swift), one submit; it may also not submit at all, or
   submit only after the shutdown returned (the interleavings cover every start time). */
proctype submitter(byte me) {
    byte k, s, o, t;
    if
    :: s = 0
    :: s = 1                                    /* cnv_gate_enter: shard = sched_getcpu() & 63 */
    :: goto finish                              /* submits nothing */
    fi;
#ifdef MUTANT_WEAK_ENTER
    rmw_add(me, SHARD + s, 1, o);               /* mutant: the increment not ordered before the load */
#else
    sc_add(me, SHARD + s, 1, o);                /* cnv_gate_enter: inside fetch_add (seq_cst) */
#endif
    o = 0;
    load(me, OPEN, o);                          /* cnv_gate_enter: open load (seq_cst) */
    if
    :: o == 0 ->
        rmw_add(me, SHARD + s, 255, o);         /* cnv_gate_enter: closed: inside fetch_sub (release) */
        atomic { refused++ };                   /* enqueue: throw ConveyorError.shutDown */
        goto finish
    :: else -> skip
    fi;
                                                /* enqueue: cnv_task_begin (record not shared yet) */
    rmw_add(me, TAIL, 1, t);                    /* cnv_mpmc__enqueue: tail CAS (relaxed), position t */
    atomic {
        assert(!returned);                      /* no submit accepted after shutdown returned */
        accepted++
    };
    store(me, PUB + t, 1);                      /* cnv_mpmc__enqueue: slot sequence store (release) */
    t = 0;
                                                /* enqueue: cnv_parker_notify (abstracted: no lost wake-up) */
#ifdef MUTANT_RELAXED_LEAVE
    bypass_add(me, SHARD + s, 255);             /* mutant: the decrement overtakes the publish */
#else
    rmw_add(me, SHARD + s, 255, o);             /* cnv_gate_leave: inside fetch_sub (release) */
#endif
finish:
    o = 0;
    s = 0
}

/* Runs or settles the task at ring position h (bookkeeping). */
inline settle(h, torun) {
    d_step {
        assert(settled[h] == 0);                /* settled once */
        settled[h]++;
        if :: torun -> ran++ :: else -> not_started++ fi
    }
}

/* Conveyor.workerMain (Conveyor+Workers.swift) with the park abstracted. */
proctype worker(byte me) {
    byte h, p, m;
top:
    m = mem[MODE];                              /* workerMain: let mode = group.currentMode (acquire) */
    if
    :: m == STOPPING -> goto done               /* workerMain: if mode == .stopping { return } */
    :: else -> skip
    fi;
    atomic {                                    /* takeBatch: cnv_mpmc dequeue: slot at head, head CAS */
        h = mem[HEAD];
        if
        :: h < N -> p = mem[PUB + h]
        :: else -> p = 0
        fi;
        if :: p == 1 -> mem[HEAD] = h + 1 :: else -> skip fi
    };
    if
    :: p == 1 ->
        p = 0;
        if
        :: mem[MODE] == STOPPING ->             /* workerMain: currentMode == .stopping: handBack */
            d_step { handoff[h] = true; handed_back++ };
            h = 0;
            goto done
        :: else -> settle(h, true); h = 0; goto top   /* execute: the handler runs */
        fi
    :: else -> h = 0
    fi;
    if
    :: m == DRAINING ->                         /* workerMain: mode == .draining && !hasQueuedWork: exit */
        if
        :: mem[TAIL] <= mem[HEAD] -> goto done  /* hasQueuedWork: tail > head (cnv_mpmc_ring_count) */
        :: else -> goto top
        fi
    :: else -> skip
    fi;
    /* Spin, then park until ready (Parker; no lost wake-up: parking.pml): wait predicate
       hot.hasQueuedWork || group.currentMode != .running. */
    atomic { mem[TAIL] > mem[HEAD] || mem[MODE] != RUNNING };
    goto top;
done:
    atomic { workers_exited++ }
}

/* Conveyor.shutdown (Conveyor+Lifecycle.swift). */
proctype shutdown() {
    byte k, i, s, x, h, p;
#ifdef MUTANT_WEAK_CLOSE
    store(SHUTDOWN_ID, OPEN, 0);                /* mutant: open store (release), may stay buffered */
#else
    sc_store(SHUTDOWN_ID, OPEN, 0);             /* cnv_gate_close_and_wait: open store (seq_cst) */
#endif
#ifdef MUTANT_NO_WAIT
    goto closed;
#endif
wait:
    s = 0;
    i = 0;
    do
    :: i < 2 -> load(SHUTDOWN_ID, SHARD + i, x); s = s + x; i++   /* shard loads (seq_cst) */
    :: else -> break
    od;
    i = 0;
    x = 0;
    if
    :: s != 0 -> s = 0; goto wait               /* cnv_gate_close_and_wait: usleep(50), retry */
    :: else -> skip
    fi;
closed:
    if
    :: drain = true; store(SHUTDOWN_ID, MODE, DRAINING)    /* shutdown: mode.store(.draining, releasing) */
    :: drain = false; store(SHUTDOWN_ID, MODE, STOPPING)   /* shutdown: mode.store(.stopping, releasing) */
    fi;
    fence(SHUTDOWN_ID);                         /* parker.unparkAll: cnv_parker_unpark's seq_cst fence */
    workers_exited == WORKERS;                  /* shutdown: waitForWorkersToExit */
    /* shutdown: sweep(group, run: drain): the handoff queue first, then the ring until a
       dequeue finds nothing (a claimed but unpublished slot reads as empty). */
#ifdef MUTANT_NO_SWEEP
    goto finished;
#endif
    i = 0;
    do
    :: i < N ->
        if
        :: handoff[i] -> handoff[i] = false; settle(i, drain)   /* failUnstarted, or execute when draining */
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    do
    :: atomic {
           h = mem[HEAD];
           if :: h < N -> p = mem[PUB + h] :: else -> p = 0 fi;
           if :: p == 1 -> mem[HEAD] = h + 1 :: else -> skip fi
       };
       if
       :: p == 1 -> p = 0; settle(h, drain); h = 0
       :: else -> h = 0; break
       fi
    od;
finished:
    atomic {
        returned = true;
        /* No accepted task lost: each one settled once (ran, or notStarted under stop). */
        assert(ran + not_started == accepted);
        assert(!drain || not_started == 0)
    }
}

init {
    byte i;
    atomic {
        mem[OPEN] = 1;
        i = 0;
        do
        :: i < NP -> run flusher(i); i++
        :: else -> break
        od;
        run submitter(0);
        run submitter(1);
        run worker(W0);
        run worker(W0 + 1);
        run shutdown()
    }
}
