#include "cnv_task.h"

_Thread_local uint32_t cnv_worker_thread_flag __attribute__((tls_model("initial-exec")));
