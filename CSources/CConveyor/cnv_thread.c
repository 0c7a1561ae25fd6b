// pthread_setname_np is a GNU extension (hence _GNU_SOURCE, set for the target), which
// Swift's Glibc module does not import.
#include "cnv_thread.h"

#include <pthread.h>

int cnv_thread_set_name(const char *name) { return pthread_setname_np(pthread_self(), name); }
