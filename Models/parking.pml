/*
 * Model of Conveyor's park/wake protocol: 2 submitters x 2 workers x shutdown.
 *
 * Code modelled (line numbers of branch `proofs` at 3da289c):
 *   CSources/CConveyor/include/cnv_parker.h   cnv_parker_prepare, cnv_parker_cancel, cnv_parker_unpark
 *   CSources/CConveyor/cnv_parker.c           cnv_parker_park, cnv_parker__wake
 *   CSources/CConveyor/include/cnv_mpmc_ring.h cnv_mpmc__enqueue, cnv_mpmc__dequeue, cnv_mpmc_ring_count
 *   Sources/Conveyor/Core/Parker.swift        Parker.wait
 *   Sources/Conveyor/Engine/Conveyor+Workers.swift  workerMain
 *   Sources/Conveyor/Engine/Conveyor.swift    enqueue (submit path)
 *   Sources/Conveyor/Engine/Conveyor+Lifecycle.swift shutdown
 *   CSources/CConveyor/include/cnv_task.h     cnv_gate_enter / cnv_gate_leave (abstracted, SC)
 *
 * Two wake rules:
 *   default       today's rule: a submitter wakes one sleeper whenever the sleeper count
 *                 is non-zero (cnv_parker_unpark after every enqueue).
 *   -DRULE_AWAKE  the planned rule: workers keep an awake count; a submitter calls unpark
 *                 only when it reads awake == 0, after a seq_cst fence that pairs with the
 *                 worker's awake-- / fence / recheck.
 *   -DNO_RESCUE   only the shutdown that waits until every accepted task ran (the mutants
 *                 are checked so: there a lost submit wake-up is a deadlock, found at once)
 * Mutants (each must make the check fail):
 *   -DMUTANT_NO_UNPARK_FENCE   drop the fence in cnv_parker_unpark
 *   -DMUTANT_NO_PREPARE_FENCE  drop the fence in cnv_parker_prepare
 *   -DMUTANT_NO_SUBMIT_FENCE   (RULE_AWAKE) drop the submitter's fence before reading awake
 *   -DMUTANT_NO_IDLE_FENCE     (RULE_AWAKE) drop the worker's fence after awake--: NOT caught,
 *                              and rightly so: the fence and recheck in cnv_parker_prepare
 *                              come before any park, so this fence is redundant here
 *
 * Memory model: stores are not visible at once. Every write (plain, release, relaxed or
 * seq_cst read-modify-write) goes into its thread's FIFO store buffer and reaches memory
 * later, at any point (a flusher process per thread); a thread's loads read its own buffer
 * first. That is the store->load reordering (store buffering) a Dekker-style handshake must
 * defeat, and the reordering C11 allows for every operation here short of a seq_cst fence
 * between them. A read-modify-write reads the newest value in modification order (it waits
 * until no other thread has a buffered write to that word) but its own write is buffered
 * too: C11 does not order a later load of another word after it, only a fence does. A
 * seq_cst fence waits until the thread's buffer is drained. Memory is multi-copy atomic and
 * stores stay in program order (FIFO): the model does not reorder loads with loads or
 * stores with stores, which the code prevents with acquire/release on every such path.
 * futex: FUTEX_WAIT and FUTEX_WAKE enter the kernel (drain the buffer) and run atomically
 * with respect to each other (the futex bucket lock), which is Linux's guarantee. No
 * timeouts: the engine parks with a 1 s timeout, which would turn a lost wake-up into a
 * 1 s stall; the model proves no wake-up needs it. No spurious wake-ups (they only add wakes).
 *
 * The ring is modelled by tail (producers' CAS), one published flag per position (the
 * slot sequence store) and head (consumers' CAS); it is large enough never to be full, so
 * the overflow paths (placeAfterFullRing) are not modelled.
 *
 * Properties (spin -a; pan with default safety checks):
 *   - no invalid end state: every worker, submitter and the shutdown reach their end; a
 *     worker asleep forever (a lost wake-up), a shutdown waiting forever for a parked worker,
 *     or any deadlock is reported;
 *   - the shutdown either races the submitters or starts only after every accepted task ran
 *     (a nondeterministic choice): in the second case nothing but the submitters' own wakes
 *     can get the tasks run, so a lost submit wake-up is a deadlock;
 *   - drain: true: when the workers have exited, every accepted task ran (assert);
 *   - no task runs twice, and none runs that was not accepted (assert).
 */

#ifndef ITEMS
#define ITEMS 1            /* tasks per submitter */
#endif
#define PRODUCERS 2
#define WORKERS 2
#define N (PRODUCERS * ITEMS)
#define NP (PRODUCERS + WORKERS + 1)   /* threads: 0,1 submitters; 2,3 workers; 4 shutdown */
#define SHUTDOWN_ID (PRODUCERS + WORKERS)
#ifndef B
#define B 3                /* store-buffer entries per thread (a full buffer waits) */
#endif

/* Words of shared memory. */
#define TAIL 0
#define HEAD 1
#define SLEEPERS 2
#define EPOCH 3
#define MODE 4
#define AWAKE 5
#define PUB 6              /* PUB + position: slot published (sequence == position + 1) */
#define NV (PUB + N)

#define RUNNING 0
#define DRAINING 1
#define STOPPING 2

byte mem[NV];
byte bv[NP * B];           /* buffered writes: word */
byte bx[NP * B];           /* buffered writes: value */
byte bn[NP];               /* entries in each buffer */
byte pend[NV];             /* buffered writes per word */
byte pown[NV];             /* the thread holding them */
bool asleep[NP];           /* in FUTEX_WAIT */
bool buffered[NP];         /* threads whose writes go through a store buffer */

/* Abstract state (sequentially consistent bookkeeping, not part of the protocol). */
byte inside;               /* submitters inside the gate */
bool closed;
byte accepted;
byte consumed;
bool ran[N];
byte producers_done;
byte workers_exited;

/* A thread's view of word v: its newest buffered write, else memory. */
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

/* Buffers a write (waits while the buffer is full); unbuffered threads write through. */
inline store(me, v, x) {
    atomic {
        if
        :: buffered[me] ->
            bn[me] < B ->
            bv[me * B + bn[me]] = v;
            bx[me * B + bn[me]] = x;
            bn[me]++;
            pend[v]++;
            pown[v] = me
        :: else ->
            pend[v] == 0 -> mem[v] = x
        fi
    }
}

/* Read-modify-write: reads the newest value (no other thread has one buffered), buffers
   the sum. `old` receives the value read. */
inline rmw_add(me, v, delta, old) {
    atomic {
        (pend[v] == 0 || pown[v] == me) && bn[me] < B ->
        load(me, v, old);
        if
        :: buffered[me] ->
            bv[me * B + bn[me]] = v;
            bx[me * B + bn[me]] = old + delta;
            bn[me]++;
            pend[v]++;
            pown[v] = me
        :: else ->
            mem[v] = old + delta
        fi
    }
}

/* atomic_thread_fence(memory_order_seq_cst): the buffer drains first. */
inline fence(me) {
    bn[me] == 0
}

/* The kernel side of futex(FUTEX_WAIT, epoch, e): sleeps unless the word moved. */
inline futex_wait(me, e) {
    bn[me] == 0;
    atomic { if :: mem[EPOCH] == e -> asleep[me] = true :: else -> skip fi };
    !asleep[me]
}

inline futex_wake_one(me) {
    bn[me] == 0;
    atomic {
        if
        :: asleep[PRODUCERS] -> asleep[PRODUCERS] = false
        :: asleep[PRODUCERS + 1] -> asleep[PRODUCERS + 1] = false
        :: else -> skip
        fi
    }
}

inline futex_wake_all(me) {
    bn[me] == 0;
    atomic { asleep[PRODUCERS] = false; asleep[PRODUCERS + 1] = false }
}

/* cnv_parker_unpark (cnv_parker.h) and cnv_parker__wake (cnv_parker.c). */
inline unpark(me, all) {
#ifndef MUTANT_NO_UNPARK_FENCE
    fence(me);                                  /* cnv_parker_unpark: atomic_thread_fence(seq_cst) */
#endif
    load(me, SLEEPERS, s);                      /* cnv_parker_unpark: sleepers load (relaxed) */
    if
    :: s != 0 ->
        rmw_add(me, EPOCH, 1, t);               /* cnv_parker__wake: epoch fetch_add (seq_cst) */
        if
        :: all -> futex_wake_all(me)            /* cnv_parker__wake: FUTEX_WAKE_PRIVATE, INT32_MAX */
        :: else -> futex_wake_one(me)           /* cnv_parker__wake: FUTEX_WAKE_PRIVATE, 1 */
        fi
    :: else -> skip                             /* no sleeper: no system call */
    fi;
    s = 0;
    t = 0
}

/* GroupHotPath.hasQueuedWork (GroupRuntime.swift) via cnv_mpmc_ring_count: head, then tail. */
inline has_queued_work(me, ready) {
    load(me, HEAD, h);
    load(me, TAIL, t);
    ready = (t > h);
    h = 0;
    t = 0
}

/* The wait predicate of workerMain (Conveyor+Workers.swift:118-121):
   hot.hasQueuedWork || group.currentMode != .running. */
inline is_ready(me, ready) {
    has_queued_work(me, ready);
    if
    :: !ready -> load(me, MODE, m); ready = (m != RUNNING); m = 0
    :: else -> skip
    fi
}

/* Moves the oldest buffered write of thread `me` to memory, at any time. */
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
           bv[me * B + bn[me]] = 0;             /* canonical: vacated entries are zero */
           bx[me * B + bn[me]] = 0;
           i = 0;
           w = 0
       }
    od
}

/* Conveyor.enqueue (Conveyor.swift:504-516), up to ITEMS times: a submitter may stop at
   any point, so runs where only one submitter submits are explored too. */
proctype submitter(byte me) {
    byte k, s, t, h, a, n;
    do
    :: n < ITEMS ->
        n++;
        atomic {                                /* cnv_gate_enter */
            if
            :: !closed -> inside++
            :: else -> goto refused
            fi
        };
        rmw_add(me, TAIL, 1, t);                /* cnv_mpmc__enqueue: CAS tail (relaxed), position t */
        atomic { accepted++ };
        store(me, PUB + t, 1);                  /* cnv_mpmc__enqueue: slot sequence store (release) */
        t = 0;
#ifdef RULE_AWAKE
#ifndef MUTANT_NO_SUBMIT_FENCE
        fence(me);                              /* planned: fence before reading the awake count */
#endif
        load(me, AWAKE, a);
        if
        :: a == 0 -> a = 0; unpark(me, false)
        :: else -> a = 0                        /* an awake worker will see the task */
        fi;
#else
        unpark(me, false);                      /* Conveyor.swift:514 cnv_parker_unpark(hot.parker, 1) */
#endif
        fence(me);                              /* cnv_gate_leave (release: the enqueue is visible first) */
        atomic { inside-- };
        goto next;
refused:
        skip;
next:
        skip
    :: true -> break                            /* submits no more */
    od;
    atomic { producers_done++ }
}

/* Conveyor.workerMain (Conveyor+Workers.swift:81-123) with Parker.wait (Parker.swift:55-80). */
proctype worker(byte me) {
    byte k, s, t, h, p, e, m, o;
    bool ready;
top:
    load(me, MODE, m);                          /* workerMain:104 let mode = group.currentMode */
    if
    :: m == STOPPING -> goto done               /* workerMain:105 */
    :: else -> skip
    fi;
    /* workerMain:106 takeBatch -> cnv_mpmc_dequeue_burst: read the slot at head, CAS head.
       The head CAS is written through, not buffered: a stale head can only make another
       worker's count larger (hasQueuedWork true), which keeps it awake and spinning, never
       parked, so buffering it adds states but no way to lose a wake-up. */
    atomic {
        load(me, HEAD, h);
        if
        :: h < N -> load(me, PUB + h, p)
        :: else -> p = 0
        fi;
        if
        :: p == 1 ->
            mem[HEAD] = h + 1;                  /* written through: see below */
            assert(!ran[h]);                    /* no task runs twice */
            ran[h] = true;
            consumed++;
            assert(consumed <= accepted)
        :: else -> skip
        fi;
        h = 0
    };
    if
    :: p == 1 -> p = 0; goto top                /* workerMain:107-118 ran the batch; continue */
    :: else -> skip
    fi;
    if
    :: m == DRAINING ->                         /* workerMain:114 draining and nothing queued: exit */
        has_queued_work(me, ready);
        if :: !ready -> goto done :: else -> skip fi
    :: else -> skip
    fi;
    is_ready(me, ready);                        /* Parker.wait:56-59 the spin phase checks */
    if :: ready -> goto top :: else -> skip fi;
#ifdef RULE_AWAKE
    rmw_add(me, AWAKE, 255, o); o = 0;         /* planned: awake -= 1 (going idle) */
#ifndef MUTANT_NO_IDLE_FENCE
    fence(me);                                  /* planned: fence pairing with the submitter's */
#endif
    is_ready(me, ready);                        /* planned: recheck after the fence */
    if :: ready -> rmw_add(me, AWAKE, 1, o); o = 0; goto top :: else -> skip fi;
#endif
prepare:
    rmw_add(me, SLEEPERS, 1, o); o = 0;        /* cnv_parker_prepare: sleepers fetch_add (seq_cst) */
    load(me, EPOCH, e);                         /* cnv_parker_prepare: epoch load (seq_cst) */
#ifndef MUTANT_NO_PREPARE_FENCE
    fence(me);                                  /* cnv_parker_prepare: atomic_thread_fence(seq_cst) */
#endif
    is_ready(me, ready);                        /* Parker.wait:64 if isReady() */
    if
    :: ready ->
        e = 0;
        rmw_add(me, SLEEPERS, 255, o); o = 0;   /* Parker.wait:65 cnv_parker_cancel (sleepers -= 1) */
        goto awake
    :: else -> skip
    fi;
    load(me, EPOCH, t);                         /* cnv_parker_park: epoch load (acquire) == epoch? */
    if
    :: t == e -> futex_wait(me, e)              /* cnv_parker_park: FUTEX_WAIT_PRIVATE (no timeout here) */
    :: else -> skip
    fi;
    rmw_add(me, SLEEPERS, 255, o); o = 0; e = 0; /* cnv_parker_park: sleepers fetch_sub (relaxed) */
    is_ready(me, ready);                        /* Parker.wait:79 if isReady() */
    if
    :: ready -> goto awake
    :: else -> goto prepare                     /* Parker.wait:62 loop */
    fi;
awake:
#ifdef RULE_AWAKE
    rmw_add(me, AWAKE, 1, o); o = 0;           /* planned: awake += 1 */
#endif
    goto top;
done:
    atomic { workers_exited++ }
}

/* Conveyor.shutdown (Conveyor+Lifecycle.swift:14-45). */
proctype shutdown() {
    byte k, s, t;
    bool drain;
#ifdef NO_RESCUE
    producers_done == PRODUCERS && consumed == accepted;     /* only the no-rescue branch */
#else
    if
    :: producers_done == PRODUCERS && consumed == accepted   /* no rescue by the shutdown's wake */
    :: skip                                     /* races the submitters */
    fi;
#endif
    closed = true;                              /* cnv_gate_close_and_wait: open = 0 */
    inside == 0;                                /* cnv_gate_close_and_wait: wait for every shard at 0 */
    if
    :: drain = true; store(SHUTDOWN_ID, MODE, DRAINING)   /* Lifecycle:30-31 mode.store(.draining, releasing) */
    :: drain = false; store(SHUTDOWN_ID, MODE, STOPPING)  /* Lifecycle:30-31 mode.store(.stopping, releasing) */
    fi;
    unpark(SHUTDOWN_ID, true);                  /* Lifecycle:33 group.parker.unparkAll() */
    workers_exited == WORKERS;                  /* Lifecycle:35 waitForWorkersToExit */
    assert(!drain || consumed == accepted)      /* drain: the workers ran every accepted task */
}

init {
    byte i;
    atomic {
        mem[AWAKE] = WORKERS;
        /* Workers always have store buffers. The submitters and the shutdown write and then
           fence before any load of another word (see the header), so a buffer cannot change
           what they or others observe, only when their writes land, which the interleaving
           covers already: they are written through unless a mutant removes such a fence. */
        buffered[PRODUCERS] = true;
        buffered[PRODUCERS + 1] = true;
#if defined(MUTANT_NO_UNPARK_FENCE) || defined(MUTANT_NO_SUBMIT_FENCE)
        buffered[0] = true;
        buffered[1] = true;
        buffered[SHUTDOWN_ID] = true;
#endif
        i = 0;
        do
        :: i < NP -> if :: buffered[i] -> run flusher(i) :: else -> skip fi; i++
        :: else -> break
        od;
        run submitter(0);
        run submitter(1);
        run worker(PRODUCERS);
        run worker(PRODUCERS + 1);
        run shutdown()
    }
}
