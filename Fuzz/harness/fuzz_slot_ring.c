// libFuzzer harness: the slot ring (cnv_slot_ring.h) against a model of its slots.
//
// Script: one byte picks the capacity (2 … 256, or an arbitrary 64-bit capacity that must be
// refused unless valid), one byte says whether the positions start high (just
// below 2^63 less 2^20: the top bit of the tail is the CLOSED bit), then operations of two bytes (op, argument): claim one or
// a burst, publish any claimed slot (out of order too), take one or a burst, release any
// taken slot (out of order too), cancel a queued task through its ticket, and the count and
// emptiness probes. The model knows each slot's state (free, claimed, published, taken), the
// value its producer wrote and the ticket (state word) it was issued; every result is checked
// against it: which slot a claim or take returns, how many a burst moves, that a take sees the
// record exactly as its producer wrote it, that a worker's QUEUED→RUNNING wins unless a cancel
// won first, and that a ticket from an earlier lap of the slot never cancels a later task.
#include <string.h>

#include "cnv_slot_ring.h"
#include "fuzz_script.h"

#define MAX_CAPACITY 256

enum slot_state { SLOT_FREE = 0, SLOT_CLAIMED, SLOT_PUBLISHED, SLOT_TAKEN };

struct model {
    uint64_t capacity, mask;
    uint64_t head, tail;  // positions, as the ring's
    uint8_t state[MAX_CAPACITY];
    uint8_t cancelled[MAX_CAPACITY];
    uint64_t value[MAX_CAPACITY];
    uint64_t ticket[MAX_CAPACITY];      // the state word of the slot's current task
    uint64_t old_ticket[MAX_CAPACITY];  // the previous lap's, 0 before the first reuse
    uint64_t claimed[MAX_CAPACITY];     // positions claimed, not yet published
    size_t claimed_count;
    uint64_t taken[MAX_CAPACITY];  // positions taken, not yet released
    size_t taken_count;
    uint64_t next_value;
};

static void put_value(struct cnv_slot *slot, uint64_t value) {
    memcpy(slot->record.payload, &value, sizeof(value));
    uint64_t mirror = ~value;
    memcpy(slot->record.payload + CNV_TASK_INLINE_PAYLOAD - sizeof(mirror), &mirror, sizeof(mirror));
    slot->record.submit_ticks = value;
    slot->record.priority = (uint16_t)value;
}

static void check_value(struct cnv_slot *slot, uint64_t expected) {
    uint64_t value, mirror;
    memcpy(&value, slot->record.payload, sizeof(value));
    memcpy(&mirror, slot->record.payload + CNV_TASK_INLINE_PAYLOAD - sizeof(mirror), sizeof(mirror));
    FUZZ_CHECK(value == expected && mirror == ~expected && slot->record.submit_ticks == expected &&
                   slot->record.priority == (uint16_t)expected,
               "slot record holds %llu, expected %llu", (unsigned long long)value, (unsigned long long)expected);
}

/// The model's side of one claimed position: a fresh task written in place.
static void claimed_at(struct model *m, struct cnv_slot_ring *ring, uint64_t position) {
    struct cnv_slot *slot = cnv_slot_ring_at(ring, position);
    uint64_t index = position & m->mask;
    FUZZ_CHECK(m->state[index] == SLOT_FREE, "claimed a slot the model holds in state %d", m->state[index]);
    uint64_t ticket = cnv_task_begin(&slot->record);
    FUZZ_CHECK((ticket & CNV_TASK_STATE_MASK) == CNV_TASK_QUEUED, "begin left state %llu",
               (unsigned long long)(ticket & CNV_TASK_STATE_MASK));
    if (m->ticket[index] != 0) {
        FUZZ_CHECK(ticket != m->ticket[index], "a reused slot kept its generation");
        m->old_ticket[index] = m->ticket[index];
    }
    m->ticket[index] = ticket;
    put_value(slot, m->next_value);
    m->value[index] = m->next_value++;
    m->state[index] = SLOT_CLAIMED;
    m->cancelled[index] = 0;
    m->claimed[m->claimed_count++] = position;
}

static void taken_at(struct model *m, struct cnv_slot_ring *ring, uint64_t position) {
    uint64_t index = position & m->mask;
    FUZZ_CHECK(m->state[index] == SLOT_PUBLISHED, "took a slot the model holds in state %d", m->state[index]);
    check_value(cnv_slot_ring_at(ring, position), m->value[index]);
    m->state[index] = SLOT_TAKEN;
    m->taken[m->taken_count++] = position;
}

/// Slots free from the tail on (what a claim of `want` may get).
static size_t claimable(const struct model *m, size_t want) {
    size_t n = 0;
    while (n < want && n < m->capacity && m->state[(m->tail + n) & m->mask] == SLOT_FREE) n++;
    return n;
}

static size_t takeable(const struct model *m, size_t want) {
    size_t n = 0;
    while (n < want && m->head + n != m->tail && m->state[(m->head + n) & m->mask] == SLOT_PUBLISHED) n++;
    return n;
}

static void publish_one(struct model *m, struct cnv_slot_ring *ring, size_t pick) {
    uint64_t position = m->claimed[pick];
    m->claimed[pick] = m->claimed[--m->claimed_count];
    cnv_slot_publish(cnv_slot_ring_at(ring, position));
    m->state[position & m->mask] = SLOT_PUBLISHED;
}

static void release_one(struct model *m, struct cnv_slot_ring *ring, size_t pick) {
    uint64_t position = m->taken[pick];
    m->taken[pick] = m->taken[--m->taken_count];
    uint64_t index = position & m->mask;
    struct cnv_slot *slot = cnv_slot_ring_at(ring, position);
    // The worker's start: QUEUED→RUNNING wins unless a cancel won first.
    bool started = cnv_task_transition(&slot->record, m->ticket[index], CNV_TASK_RUNNING);
    FUZZ_CHECK(started == !m->cancelled[index], "start %d with cancelled %d", started, m->cancelled[index]);
    cnv_slot_release(ring, slot);
    m->state[index] = SLOT_FREE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fuzz_script script = fuzz_script_make(data, size);
    uint8_t shape = fuzz_u8(&script);
    uint64_t capacity;
    if (shape == 0xFF) {
        capacity = fuzz_u64(&script);
        int valid = capacity >= 2 && capacity <= CNV_SLOT_RING_MAX_CAPACITY && cnv_is_power_of_two(capacity);
        if (!valid) {
            struct cnv_slot_ring *refused = (struct cnv_slot_ring *)1;
            int status = cnv_slot_ring_create(capacity, &refused);
            FUZZ_CHECK(status == CNV_EINVAL, "capacity %llu gave %d", (unsigned long long)capacity, status);
            FUZZ_CHECK(refused == NULL, "out not cleared on refusal");
        }
        if (!valid || capacity > MAX_CAPACITY) return 0;
    } else {
        capacity = UINT64_C(1) << (1 + shape % 8);
    }
    struct cnv_slot_ring *ring = NULL;
    int status = cnv_slot_ring_create(capacity, &ring);
    FUZZ_CHECK(status == CNV_OK && ring != NULL, "create %llu: %d", (unsigned long long)capacity, status);
    FUZZ_CHECK(cnv_slot_ring_capacity(ring) == capacity, "capacity");
    FUZZ_CHECK(((uintptr_t)ring->slots & (CNV_FALSE_SHARING_RANGE - 1)) == 0, "slots not 128-byte aligned");

    static struct model m;
    memset(&m, 0, sizeof(m));
    m.capacity = capacity;
    m.mask = capacity - 1;
    m.next_value = 1;
    uint8_t start = fuzz_u8(&script);
    if (start & 1) {
        // High positions: the top bit of the tail is the CLOSED bit, so positions stay below
        // 2^63 (cnv_slot_ring.h); start 2^20 below it (more than a script can claim).
        uint64_t origin = CNV_SLOT_RING_CLOSED - (UINT64_C(1) << 20) - (uint64_t)(start >> 1) * 7;
        for (uint64_t k = 0; k < capacity; k++) cnv_slot_ring_at(ring, origin + k)->sequence = origin + k;
        atomic_store_explicit(&ring->head, origin, memory_order_relaxed);
        atomic_store_explicit(&ring->tail, origin, memory_order_relaxed);
        m.head = m.tail = origin;
    }

    while (!fuzz_script_done(&script)) {
        uint8_t op = fuzz_u8(&script);
        uint8_t argument = fuzz_u8(&script);
        // Bursts up to 2 × capacity + 1, so requests beyond the capacity are exercised.
        size_t n = (size_t)(argument % (2 * capacity + 2));
        switch (op % 9) {
        case 0: {  // claim one
            bool expect = claimable(&m, 1) == 1;
            struct cnv_slot *slot = cnv_slot_ring_claim(ring);
            FUZZ_CHECK((slot != NULL) == expect, "claim gave %p, model says %d", (void *)slot, expect);
            if (slot != NULL) {
                FUZZ_CHECK(slot == cnv_slot_ring_at(ring, m.tail), "claim returned another slot than the tail's");
                claimed_at(&m, ring, m.tail++);
            }
            break;
        }
        case 1: {  // claim a burst
            size_t want = claimable(&m, n);
            uint64_t first = 0;
            size_t got = cnv_slot_ring_claim_burst(ring, n, &first);
            FUZZ_CHECK(got == want, "burst claim of %zu got %zu, expected %zu", n, got, want);
            if (got > 0) FUZZ_CHECK(first == m.tail, "burst claim started at another position");
            for (size_t i = 0; i < got; i++) claimed_at(&m, ring, m.tail++);
            break;
        }
        case 2:  // publish one claimed slot (any of them)
            if (m.claimed_count > 0) publish_one(&m, ring, argument % m.claimed_count);
            break;
        case 3: {  // take one
            bool expect = takeable(&m, 1) == 1;
            struct cnv_slot *slot = cnv_slot_ring_take(ring);
            FUZZ_CHECK((slot != NULL) == expect, "take gave %p, model says %d", (void *)slot, expect);
            if (slot != NULL) {
                FUZZ_CHECK(slot == cnv_slot_ring_at(ring, m.head), "take returned another slot than the head's");
                taken_at(&m, ring, m.head++);
            }
            break;
        }
        case 4: {  // take a burst
            size_t want = takeable(&m, n);
            uint64_t first = 0;
            size_t got = cnv_slot_ring_take_burst(ring, n, &first);
            FUZZ_CHECK(got == want, "burst take of %zu got %zu, expected %zu", n, got, want);
            if (got > 0) FUZZ_CHECK(first == m.head, "burst take started at another position");
            for (size_t i = 0; i < got; i++) taken_at(&m, ring, m.head++);
            break;
        }
        case 5:  // release one taken slot (any of them)
            if (m.taken_count > 0) release_one(&m, ring, argument % m.taken_count);
            break;
        case 6: {  // cancel through a ticket: the current one, or a stale one from the last lap
            uint64_t index = (uint64_t)argument & m.mask;
            if (m.state[index] == SLOT_FREE) break;
            struct cnv_slot *slot = &ring->slots[index];
            if (op & 0x80) {
                if (m.old_ticket[index] != 0) {
                    FUZZ_CHECK(!cnv_task_transition(&slot->record, m.old_ticket[index], CNV_TASK_CANCELLED),
                               "a stale ticket cancelled a later task");
                }
            } else if (m.state[index] != SLOT_TAKEN || m.cancelled[index] == 0) {
                // A taken slot is not started until its release in this model, so it still
                // cancels; a second cancel of the same task must fail.
                bool cancelled = cnv_task_transition(&slot->record, m.ticket[index], CNV_TASK_CANCELLED);
                FUZZ_CHECK(cancelled == !m.cancelled[index], "cancel %d, already cancelled %d", cancelled,
                           m.cancelled[index]);
                m.cancelled[index] = 1;
            }
            break;
        }
        case 7:  // count
            FUZZ_CHECK(cnv_slot_ring_count(ring) == m.tail - m.head, "count %llu, model %llu",
                       (unsigned long long)cnv_slot_ring_count(ring), (unsigned long long)(m.tail - m.head));
            break;
        default:  // emptiness probe from the consumers' side
            FUZZ_CHECK(cnv_slot_ring_may_have_entries(ring) == (takeable(&m, 1) == 1), "may_have_entries");
            break;
        }
    }
    // Finish every task: publish what is claimed, take and release everything; the ring must
    // end empty with every value delivered.
    while (m.claimed_count > 0) publish_one(&m, ring, m.claimed_count - 1);
    for (;;) {
        struct cnv_slot *slot = cnv_slot_ring_take(ring);
        if (slot == NULL) break;
        FUZZ_CHECK(slot == cnv_slot_ring_at(ring, m.head), "final take out of order");
        taken_at(&m, ring, m.head++);
    }
    FUZZ_CHECK(m.head == m.tail, "ring empty with %llu positions in the model", (unsigned long long)(m.tail - m.head));
    while (m.taken_count > 0) release_one(&m, ring, 0);
    FUZZ_CHECK(cnv_slot_ring_count(ring) == 0, "final count");
    FUZZ_CHECK(claimable(&m, capacity) == capacity, "model not all free");
    uint64_t first = 0;
    FUZZ_CHECK(cnv_slot_ring_claim_burst(ring, (size_t)capacity, &first) == capacity, "a drained ring is not all free");
    cnv_slot_ring_destroy(ring);
    return 0;
}
