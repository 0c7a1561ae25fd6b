// The system SQLite (Debian libsqlite3-dev), for conveyor-batchbench only: the core library
// never links it.
#include <sqlite3.h>
