#include "cnv_gate.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cnv_gate_create(struct cnv_gate **out) {
    if (out == NULL) return CNV_EINVAL;
    struct cnv_gate *gate = NULL;
    if (posix_memalign((void **)&gate, CNV_FALSE_SHARING_RANGE, sizeof(*gate)) != 0) return CNV_ENOMEM;
    memset(gate, 0, sizeof(*gate));
    atomic_store_explicit(&gate->open, 1, memory_order_release);
    *out = gate;
    return CNV_OK;
}

void cnv_gate_destroy(struct cnv_gate *gate) {
    free(gate);
}

void cnv_gate_close_and_wait(struct cnv_gate *gate) {
    atomic_store_explicit(&gate->open, 0, memory_order_seq_cst);
    for (;;) {
        int64_t inside = 0;
        for (int i = 0; i < CNV_GATE_SHARDS; i++) {
            // seq_cst pairs with the submitter's increment (see cnv_gate_enter); acquire
            // semantics make its enqueue visible once we see it leave.
            inside += atomic_load_explicit(&gate->shards[i].inside, memory_order_seq_cst);
        }
        if (inside == 0) return;
        usleep(50);
    }
}
