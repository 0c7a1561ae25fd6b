/*
 * Model of Conveyor's shutdown/drain protocol with the CLOSED bit (issue 10): 2 submitters x
 * 2 workers x a shutdown, with the overflow path.
 *
 * Version checked: branch `closedbit` (docs/Engine.md, "Tasks in ring slots", Shutdown). The
 * per-task submission gate is gone: a claim fails once the CLOSED bit of the ring's tail is
 * set; the shutdown sets it with a fetch-or and waits until every position below the closed
 * tail is published. Only the overflow push keeps a (narrow) gate.
 *
 * Code modelled:
 *   CSources/CConveyor/include/cnv_slot_ring.h  cnv_slot_ring__claim (CLOSED check, slot
 *                                               sequence acquire load, tail CAS relaxed),
 *                                               cnv_slot_publish (release), take (head CAS),
 *                                               cnv_slot_release, cnv_slot_ring_count (masks
 *                                               CLOSED)
 *   CSources/CConveyor/cnv_slot_ring.c          cnv_slot_ring_close (fetch-or seq_cst),
 *                                               cnv_slot_ring_wait_published (acquire loads)
 *   CSources/CConveyor/include/cnv_gate.h/.c    cnv_gate_enter/leave, cnv_gate_close_and_wait
 *                                               (now only around the overflow push)
 *   Sources/Conveyor/Engine/Conveyor+Submit.swift  enqueueInSlot (claim, fill, publish; on a
 *                                               failed claim: cnv_slot_ring_is_closed -> shutDown,
 *                                               else the record path), enqueue /
 *                                               placeAfterFullRing (hasSpilled, gate, overflow
 *                                               enqueue)
 *   Sources/Conveyor/Engine/Conveyor+Workers.swift  workerMain (mode checks, take from the ring
 *                                               or the overflow queue, handBack when stopping,
 *                                               draining exit when nothing is queued)
 *   Sources/Conveyor/Engine/Conveyor+Lifecycle.swift shutdown (1. gate close and wait, 2. ring
 *                                               close, wait published, mode store, unparkAll,
 *                                               waitForWorkersToExit, sweep, failUnstarted)
 *
 * The ring has one slot (CAP 1): the second submitter's claim finds it full unless a worker
 * already released the first task's slot, and then takes the overflow path (`.spill`). A
 * submitter may also find the lane spilled (hasSpilled) and go to the overflow queue at once.
 * Abstracted as in shutdown.pml: the park/wake protocol (no lost wake-up, parking.pml), async
 * tasks, executor jobs, batches, cancel and deadlines. The overflow queue is a set of flags
 * (its own linearizable enqueue/dequeue are checked by its fuzz harness).
 *
 * Memory model: as shutdown.pml (per-thread FIFO store buffers for the submitters and the
 * shutdown; seq_cst = drain then write; release/relaxed writes buffered; workers write
 * through). The claim's tail CAS is a relaxed read-modify-write: buffered, but no other
 * read-modify-write of the tail can take effect until it drained (the single modification
 * order of one word); the shutdown's fetch-or is seq_cst. The tail holds the position in its
 * low bits and CLOSED as 128.
 *
 * Properties (pan, safety):
 *   - no accepted task lost: when shutdown returns, every accepted task was settled exactly
 *     once; drain: true -> each ran; drain: false -> each ran or was reported notStarted;
 *   - no task settled twice (assert);
 *   - no claim succeeds after the CLOSED bit is set (assert at the claim);
 *   - no submit accepted after shutdown returned (assert at each accept point);
 *   - shutdown's wait for claimed slots ends, and no deadlock: no invalid end state.
 *
 * Mutants (each must fail):
 *   -DMUTANT_NO_PUBLISH_WAIT      shutdown does not wait for claimed-but-unpublished slots
 *   -DMUTANT_OVERFLOW_NO_GATE     the overflow push does not enter the gate (no closed check)
 *   -DMUTANT_CLAIM_IGNORES_CLOSED a claim does not look at the CLOSED bit
 */

#define PRODUCERS 2
#define WORKERS 2
#define N PRODUCERS            /* one task per submitter; task id = submitter id */
#define CAP 1                  /* ring slots */
#define NP (PRODUCERS + 1)     /* buffered threads: 0,1 submitters; 2 the shutdown */
#define SHUTDOWN_ID PRODUCERS
#define W0 3
#define CLOSED 128
#ifndef B
#define B 3
#endif

/* Words of shared memory. */
#define OPEN 0
#define SHARD 1                /* SHARD + 0, SHARD + 1: the gate's in-flight counters */
#define TAIL 3                 /* position | CLOSED */
#define HEAD 4
#define MODE 5
#define ST 6                   /* ST + position: 0 free/claimed, 1 published, 2 released */
#define OVF (ST + N)           /* OVF + task: 1 in the overflow queue, 2 taken from it */
#define NV (OVF + N)

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
byte accepted;
byte refused;
byte ran;
byte not_started;
byte settled[N];           /* times each task was settled */
byte ringtask[N];          /* the task at each ring position */
bool handoff[N];           /* tasks handed back by a stopping worker */
byte workers_exited;
bool closed_set;           /* the fetch-or happened */
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

/* A submit (Conveyor+Submit.swift): enqueueInSlot, else the record path. It may also not
   submit at all, or submit at any moment relative to the shutdown. */
proctype submitter(byte me) {
    byte k, s, o, t, r;
    if
    :: skip
    :: goto finish                              /* submits nothing */
    fi;
    if
    :: skip
    :: goto spill                               /* enqueue: hot.hasSpilled(lane): overflow at once */
    fi;
    /* cnv_slot_ring__claim: tail load, CLOSED check, slot sequence (acquire), tail CAS
       (relaxed). One atomic step: the slot state only moves forward, and a CAS that lost
       retries from the new tail (the same outcomes). */
    atomic {
        (pend[TAIL] == 0 || pown[TAIL] == me) && bn[me] < B ->
        load(me, TAIL, t);
#ifdef MUTANT_CLAIM_IGNORES_CLOSED
        if :: t >= CLOSED -> o = CLOSED; t = t - CLOSED :: else -> o = 0 fi;
        if
        :: false -> r = 2
#else
        o = 0;
        if
        :: t >= CLOSED -> r = 2                 /* closed: return 0 */
#endif
        :: else ->
            if
            :: t >= N -> r = 1                  /* (bounded model: no position beyond N) */
            :: t < N && t >= CAP && mem[ST + t - CAP] != 2 -> r = 1   /* previous lap not released: full */
            :: t < N && (t < CAP || mem[ST + t - CAP] == 2) ->
                r = 0;
                assert(!closed_set);            /* no claim succeeds after the bit is set */
                assert(!returned);
                accepted++;
                ringtask[t] = me;
                bv[me * B + bn[me]] = TAIL;     /* the CAS's write, buffered (relaxed) */
                bx[me * B + bn[me]] = o + t + 1;
                bn[me]++;
                pend[TAIL]++;
                pown[TAIL] = me
            fi
        fi
    };
    o = 0;
    if
    :: r == 2 ->                                /* enqueueInSlot: claim nil, cnv_slot_ring_is_closed */
        atomic { refused++ };                   /* throw ConveyorError.shutDown */
        goto finish
    :: r == 1 -> goto spill                     /* full: the record path, placeAfterFullRing */
    :: r == 0 -> skip
    fi;
                                                /* enqueueInSlot: fillSlotRecord, cnv_task_begin, fill */
    store(me, ST + t, 1);                       /* cnv_slot_publish: sequence store (release) */
    t = 0;
                                                /* cnv_parker_notify (abstracted: no lost wake-up) */
    goto finish;
spill:
    /* placeAfterFullRing (.spill): the narrow gate around the overflow push. */
#ifndef MUTANT_OVERFLOW_NO_GATE
    if
    :: s = 0
    :: s = 1                                    /* cnv_gate_enter: shard = sched_getcpu() & 63 */
    fi;
    sc_add(me, SHARD + s, 1, o);                /* cnv_gate_enter: inside fetch_add (seq_cst) */
    o = 0;
    load(me, OPEN, o);                          /* cnv_gate_enter: open load (seq_cst) */
    if
    :: o == 0 ->
        rmw_add(me, SHARD + s, 255, o);         /* closed: inside fetch_sub (release) */
        atomic { refused++ };                   /* throw ConveyorError.shutDown */
        goto finish
    :: else -> skip
    fi;
#endif
    atomic {                                    /* overflow.enqueue (its release publish), accepted */
        bn[me] < B ->
        assert(!returned);
        accepted++;
        bv[me * B + bn[me]] = OVF + me;
        bx[me * B + bn[me]] = 1;
        bn[me]++;
        pend[OVF + me]++;
        pown[OVF + me] = me
    };
#ifndef MUTANT_OVERFLOW_NO_GATE
    rmw_add(me, SHARD + s, 255, o);             /* cnv_gate_leave: inside fetch_sub (release) */
#endif
finish:
    o = 0;
    s = 0;
    r = 0
}

/* Runs or settles task `id` (bookkeeping). */
inline settle(id, torun) {
    d_step {
        assert(settled[id] == 0);               /* settled once */
        settled[id]++;
        if :: torun -> ran++ :: else -> not_started++ fi
    }
}

/* Conveyor.workerMain (Conveyor+Workers.swift) with the park abstracted. */
proctype worker(byte me) {
    byte h, p, m, id, i;
top:
    m = mem[MODE];                              /* workerMain: group.currentMode (acquire) */
    if
    :: m == STOPPING -> goto done
    :: else -> skip
    fi;
    atomic {                                    /* takeBatch: the ring (slot at head, head CAS), else the overflow queue */
        p = 0;
        h = mem[HEAD];
        if
        :: h < N && mem[ST + h] == 1 -> mem[HEAD] = h + 1; id = ringtask[h]; p = 1
        :: else ->
            i = 0;
            do
            :: i < N && mem[OVF + i] == 1 -> mem[OVF + i] = 2; id = i; p = 2; break
            :: i < N && mem[OVF + i] != 1 -> i++
            :: else -> break
            od;
            i = 0
        fi
    };
    if
    :: p != 0 ->
        if
        :: mem[MODE] == STOPPING ->             /* workerMain: currentMode == .stopping: handBack */
            d_step { handoff[id] = true };
            if :: p == 1 -> mem[ST + h] = 2 :: else -> skip fi;   /* handBack moves the record out, releases the slot */
            p = 0; h = 0; id = 0;
            goto done
        :: else ->
            settle(id, true);                   /* execute: the handler runs */
            if :: p == 1 -> mem[ST + h] = 2 :: else -> skip fi;   /* finish: cnv_slot_ring_release_record */
            p = 0; h = 0; id = 0;
            goto top
        fi
    :: else -> h = 0
    fi;
    if
    :: m == DRAINING ->                         /* mode == .draining && !hasQueuedWork: exit */
        if
        :: (mem[TAIL] % CLOSED) <= mem[HEAD] && mem[OVF] != 1 && mem[OVF + 1] != 1 -> goto done
        :: else -> goto top                     /* cnv_slot_ring_count (masks CLOSED) > 0 or spilled */
        fi
    :: else -> skip
    fi;
    /* Park until ready (no lost wake-up: parking.pml). */
    atomic { (mem[TAIL] % CLOSED) > mem[HEAD] || mem[OVF] == 1 || mem[OVF + 1] == 1 || mem[MODE] != RUNNING };
    goto top;
done:
    atomic { workers_exited++ }
}

/* Conveyor.shutdown (Conveyor+Lifecycle.swift). */
proctype shutdown() {
    byte k, i, s, x, h, p, t;
    /* 1. cnv_gate_close_and_wait: isAccepting false; wait for overflow pushes under way. */
    sc_store(SHUTDOWN_ID, OPEN, 0);             /* open store (seq_cst) */
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
    :: s != 0 -> s = 0; goto wait               /* usleep(50), retry */
    :: else -> skip
    fi;
    /* 2. cnv_slot_ring_close: fetch-or CLOSED (seq_cst), the closed tail. */
    fence(SHUTDOWN_ID);
    atomic { pend[TAIL] == 0 -> t = mem[TAIL] % CLOSED; mem[TAIL] = t + CLOSED; closed_set = true };
#ifndef MUTANT_NO_PUBLISH_WAIT
    /* cnv_slot_ring_wait_published: from head (acquire) to the closed tail, wait while a
       slot's sequence says claimed-but-unpublished (the spin/yield/sleep loop). */
    h = mem[HEAD];
    do
    :: h < t -> (mem[ST + h] >= 1); h++
    :: else -> break
    od;
    h = 0;
#endif
    if
    :: drain = true; store(SHUTDOWN_ID, MODE, DRAINING)    /* mode.store(.draining, releasing) */
    :: drain = false; store(SHUTDOWN_ID, MODE, STOPPING)   /* mode.store(.stopping, releasing) */
    fi;
    fence(SHUTDOWN_ID);                         /* parker.unparkAll: the seq_cst fence */
    workers_exited == WORKERS;                  /* waitForWorkersToExit */
    /* sweep(group, run: drain): the handoff queue, then the ring and the overflow queue
       until a take finds nothing (a claimed but unpublished slot reads as empty). */
    i = 0;
    do
    :: i < N ->
        if
        :: handoff[i] -> handoff[i] = false; settle(i, drain)   /* failUnstarted, or execute */
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    do
    :: atomic {
           p = 0;
           h = mem[HEAD];
           if
           :: h < N && mem[ST + h] == 1 -> mem[HEAD] = h + 1; mem[ST + h] = 2; x = ringtask[h]; p = 1
           :: else ->
               i = 0;
               do
               :: i < N && mem[OVF + i] == 1 -> mem[OVF + i] = 2; x = i; p = 1; break
               :: i < N && mem[OVF + i] != 1 -> i++
               :: else -> break
               od;
               i = 0
           fi
       };
       if
       :: p == 1 -> p = 0; settle(x, drain); x = 0; h = 0
       :: else -> h = 0; break
       fi
    od;
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
