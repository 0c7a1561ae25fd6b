// liburcu's wait-free concurrent queue. _LGPL_SOURCE stays undefined: liburcu is
// LGPL-2.1 and is linked dynamically, so its functions are called, not inlined.
#include <urcu/wfcqueue.h>
