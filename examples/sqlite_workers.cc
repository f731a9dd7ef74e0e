// sqlite_workers: a resource opened once per worker by the pool's
// initializer and reused by every task that worker runs: here a SQLite
// connection (Debian's libsqlite3-dev).
//
// The pattern of the Python tutorial (which binds a MySQL connection to the
// task function in the initializer):
//
//   def _initializer(path):
//       global db
//       db = sqlite3.connect(path, timeout=5)
//   def insert_rows(batch, rows):
//       with db: db.executemany("INSERT ...", ...)
//       return rows
//   pool = Pool(2, initializer=_initializer, initargs=(path,))
//   pool.starmap(insert_rows, [(b, rows) for b in range(tasks)])
//
// Each worker process opens its own connection (a SQLite connection must not
// cross fork(), so the parent closes its own before it starts the pool) and
// keeps it in a global of that process; starmap() sends (batch, rows) pairs;
// every task writes its rows in one transaction. The database is in WAL mode
// and each connection waits up to 5 s for the write lock (busy timeout), so
// workers writing at once take turns instead of failing with SQLITE_BUSY.
// The parent then counts the rows.
//
//   bazel run //examples:sqlite_workers -- --db=/tmp/rows.db
//   bazel run //examples:sqlite_workers -- --db=/tmp/rows.db --processes=4 --tasks=100
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <sqlite3.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/pool/context.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/process.h"

ABSL_FLAG(std::string, db, "sqlite_workers.db", "database file (recreated)");
ABSL_FLAG(int, processes, 2, "worker processes");
ABSL_FLAG(int, tasks, 20, "tasks (one transaction each)");
ABSL_FLAG(int, rows, 100, "rows per task");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

// This worker's connection and prepared INSERT: opened once by the
// initializer, used by every task the worker runs.
sqlite3* db = nullptr;
sqlite3_stmt* insert = nullptr;
int tasks_on_this_connection = 0;

void check(int rc, sqlite3* conn, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(what) + ": " +
                             (conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc)));
  }
}

void exec(sqlite3* conn, const char* sql) {
  check(sqlite3_exec(conn, sql, nullptr, nullptr, nullptr), conn, sql);
}

// The initializer.
void open_db(std::string path) {
  check(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), db,
        "open");
  sqlite3_busy_timeout(db, 5000);
  check(sqlite3_prepare_v2(db,
                           "INSERT INTO rows (worker, batch, n) VALUES (?, ?, ?)",
                           -1, &insert, nullptr),
        db, "prepare");
  std::printf("%s (pid %d) opened %s\n", shoal::current_process().name.c_str(),
              static_cast<int>(getpid()), path.c_str());
  std::fflush(stdout);
}

// A task: `rows` rows in one transaction; returns (rows written, how many
// tasks this worker's connection has served so far).
std::tuple<int, int> insert_rows(int batch, int rows) {
  exec(db, "BEGIN IMMEDIATE");  // take the write lock now (waits if busy)
  for (int n = 0; n < rows; ++n) {
    sqlite3_bind_int(insert, 1, static_cast<int>(getpid()));
    sqlite3_bind_int(insert, 2, batch);
    sqlite3_bind_int(insert, 3, n);
    check(sqlite3_step(insert), db, "insert");
    sqlite3_reset(insert);
  }
  exec(db, "COMMIT");
  return {rows, ++tasks_on_this_connection};
}

long long query_int(sqlite3* conn, const char* sql) {
  sqlite3_stmt* st = nullptr;
  check(sqlite3_prepare_v2(conn, sql, -1, &st, nullptr), conn, sql);
  check(sqlite3_step(st), conn, sql);
  const long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);
  absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  const std::string path = absl::GetFlag(FLAGS_db);
  const int tasks = absl::GetFlag(FLAGS_tasks);
  const int rows = absl::GetFlag(FLAGS_rows);
  const std::size_t processes = absl::GetFlag(FLAGS_processes);

  // A fresh database in WAL mode (the mode is stored in the file).
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
  sqlite3* conn = nullptr;
  check(sqlite3_open(path.c_str(), &conn), conn, "open");
  exec(conn, "PRAGMA journal_mode=WAL");
  exec(conn,
       "CREATE TABLE rows (id INTEGER PRIMARY KEY, worker INTEGER, "
       "batch INTEGER, n INTEGER)");
  sqlite3_close(conn);  // never carry a connection across fork()

  std::vector<std::tuple<int, int>> work;
  for (int b = 0; b < tasks; ++b) work.emplace_back(b, rows);
  int written = 0, most_reuse = 0;
  {
    shoal::Pool pool(processes, open_db, path);
    for (const auto& [n, served] : pool.starmap(insert_rows, work)) {
      written += n;
      most_reuse = std::max(most_reuse, served);
    }
    pool.close();
    pool.join();
  }
  std::printf("%d tasks wrote %d rows; one connection served up to %d tasks\n",
              tasks, written, most_reuse);

  check(sqlite3_open(path.c_str(), &conn), conn, "open");
  const long long count = query_int(conn, "SELECT count(*) FROM rows");
  const long long workers =
      query_int(conn, "SELECT count(DISTINCT worker) FROM rows");
  const long long batches =
      query_int(conn, "SELECT count(DISTINCT batch) FROM rows");
  sqlite3_close(conn);
  const long long expected = static_cast<long long>(tasks) * rows;
  std::printf("rows in %s: %lld (expected %lld), %lld batches, from %lld workers\n",
              path.c_str(), count, expected, batches, workers);
  return count == expected && batches == tasks ? 0 : 1;
}
