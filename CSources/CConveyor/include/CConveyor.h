// Umbrella header of the Conveyor C core.
#ifndef CCONVEYOR_H
#define CCONVEYOR_H

#include "cnv_common.h"
#include "cnv_mpmc_ring.h"
#include "cnv_slot_ring.h"
#include "cnv_spsc_ring.h"
#include "cnv_slab_pool.h"
#include "cnv_allocator.h"
#include "cnv_process_memory.h"
#include "cnv_overflow_queue.h"
#include "cnv_parker.h"
#include "cnv_task.h"
#include "cnv_gate.h"
#include "cnv_clock.h"
#include "cnv_recorder.h"
#include "cnv_read_table.h"
#include "cnv_thread.h"

#endif  // CCONVEYOR_H
