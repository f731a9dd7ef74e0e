// Copyright 2026 The shoal Authors.
//
// python_script.h: runs a Python reference script that lives next to a
// benchmark (bench/<name>.py) once, and returns the last line it printed,
// for benchmarks that report Python's figures from the same run
// (pool_bench, start_bench).
#ifndef SHOAL_BENCH_PYTHON_SCRIPT_H_
#define SHOAL_BENCH_PYTHON_SCRIPT_H_

#include <stdio.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace shoal::bench {

// Where bench/<file> is: $<env> if set; the repo root (by hand) or the
// runfiles tree (bazel run).
inline std::string PythonScriptPath(const char* env, const std::string& file) {
  if (const char* p = std::getenv(env)) return p;
  const std::string rel = "bench/" + file;
  for (const std::string& c : {rel, "../shoal/" + rel}) {
    if (access(c.c_str(), R_OK) == 0) return c;
  }
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    const std::string r = std::string(exe) + ".runfiles/shoal/" + rel;
    if (access(r.c_str(), R_OK) == 0) return r;
  }
  return rel;
}

// Runs `python3 <path>` and returns the last line of its output (stdout and
// stderr), or "" with *error set when it cannot run.
inline std::string RunPythonScript(const std::string& path,
                                   std::string* error) {
  const std::string cmd = "python3 " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *error = "cannot run python3";
    return "";
  }
  char line[1024];
  std::string last;
  while (fgets(line, sizeof(line), p) != nullptr) last = line;
  pclose(p);
  return last;
}

}  // namespace shoal::bench

#endif  // SHOAL_BENCH_PYTHON_SCRIPT_H_
