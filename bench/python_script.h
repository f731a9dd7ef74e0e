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
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

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
  // Debian's interpreter when it is there (the one a user of the .deb has),
  // else the first python3 on PATH.
  const std::string python =
      access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  const std::string cmd = python + " " + path + " 2>&1";
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

// The figures a reference script prints as its last line,
// "RESULT ok=1 key=v[,v...] ...": the script runs once per benchmark binary
// (in the constructor), and every key the caller names must be there.
class PythonFigures {
 public:
  PythonFigures(const char* env, const std::string& file,
                std::initializer_list<const char*> keys) {
    const std::string last = RunPythonScript(PythonScriptPath(env, file),
                                             &error_);
    if (!error_.empty()) return;
    std::istringstream in(last);
    std::string word;
    in >> word;
    if (word != "RESULT") {
      error_ = "python: " + last;
      return;
    }
    while (in >> word) {
      const std::size_t eq = word.find('=');
      if (eq == std::string::npos) continue;
      std::vector<double>& v = values_[word.substr(0, eq)];
      std::istringstream list(word.substr(eq + 1));
      for (std::string item; std::getline(list, item, ',');) {
        v.push_back(std::strtod(item.c_str(), nullptr));
      }
    }
    if (Get("ok") != 1) {
      error_ = "python: " + last;
      return;
    }
    for (const char* key : keys) {
      if (values_.count(key) == 0) {
        error_ = std::string("python: no ") + key + " in: " + last;
        return;
      }
    }
  }

  bool ok() const { return error_.empty(); }
  // Value `i` of `key` (0 when absent).
  double Get(const std::string& key, std::size_t i = 0) const {
    auto it = values_.find(key);
    return it == values_.end() || i >= it->second.size() ? 0 : it->second[i];
  }
  // Reports Get(key, i) seconds as the time of a manual-time benchmark, or
  // skips it with the script's error.
  void Report(benchmark::State& state, const std::string& key,
              std::size_t i = 0) const {
    const double seconds = Get(key, i);
    for (auto _ : state) state.SetIterationTime(seconds);
    if (!ok()) state.SkipWithError(error_.c_str());
  }

 private:
  std::map<std::string, std::vector<double>> values_;
  std::string error_;
};

}  // namespace shoal::bench

#endif  // SHOAL_BENCH_PYTHON_SCRIPT_H_
