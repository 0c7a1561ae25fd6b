// Naming the calling thread in the kernel (what top -H, perf, gdb and /proc/.../comm show).
#ifndef CNV_THREAD_H
#define CNV_THREAD_H

/// Sets the calling thread's kernel name (at most 15 bytes kept by Linux; a longer name is
/// refused, so the caller cuts it). Returns 0 or an errno value.
int cnv_thread_set_name(const char *name);

#endif  // CNV_THREAD_H
