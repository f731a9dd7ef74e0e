// Copyright 2026 The shoal Authors.
//
// readme_table.cc: the README's comparison table, made from a run, and the
// check of a run against the table the README has now.
//
// The table's rows are fixed here (kReadmeRows); each names shoal's
// methods, extra peers worth quoting and the floors. Its peers column is
// filled from the run: the best peer in any mode, and next to it the best
// peer of the other way of waiting (a blocking one when the best busy-polls,
// and vice versa) and the best copying one when the best is zero-copy, so
// the reader sees spin against spin and sleep against sleep. Every figure
// says how the method waits.
//
// The run writes readme-table.md (the Markdown to paste under "How it
// compares") and readme-table.json (its figures). The repository keeps the
// latter as bench/results/readme-table.json, beside the run's report: a
// later run reads it and flags each pair of methods whose order the README
// states and this run reverses, ratios that differ by more than 3x, and a
// best peer the README names when another peer is clearly faster here.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/shootout/shootout.h"
#include "nlohmann/json.hpp"

namespace shoal::shootout {

namespace {

using Json = nlohmann::ordered_json;

struct ReadmeRow {
  std::string label;
  std::string workload;
  std::size_t size;
  int producers, consumers;
  std::vector<std::string> shoal;   // in this order
  std::vector<std::string> peers;   // quoted besides the best peers
  std::vector<std::string> floors;  // floors and references
};

const std::vector<ReadmeRow>& ReadmeRows() {
  static const std::vector<ReadmeRow> kRows = {
      {"round trip, 64 B", "rtt", 64, 0, 0, {"shoal.queue"}, {}, {"floor.spin", "ref.futex"}},
      {"round trip, 4 KiB", "rtt", 4096, 0, 0, {"shoal.queue", "shoal.channel.loan"}, {},
       {"floor.spin", "floor.loan"}},
      {"round trip, 1 MiB", "rtt", 1 << 20, 0, 0, {"shoal.channel.loan", "shoal.queue"}, {},
       {"floor.spin", "floor.loan"}},
      {"stream, 8 B", "stream", 8, 0, 0, {"shoal.queue", "shoal.queue.spsc", "shoal.queue.batch"},
       {"python.queue"},
       {"floor.spsc", "floor.spsc.batch"}},
      {"stream, 1 MiB", "stream", 1 << 20, 0, 0, {"shoal.channel.loan", "shoal.channel"}, {},
       {"floor.spsc", "floor.loan", "ref.memcpy"}},
      {"queue, 4 producers x 4 consumers", "scaling", 64, 4, 4, {"shoal.queue"}, {}, {}},
      {"fan-out, 64 B, 1 writer to 4 subscribers (each)", "fanout", 64, 1, 4,
       {"shoal.broadcast.loan"}, {}, {}},
      {"fan-out, 1 MiB, 1 writer to 4 subscribers (each)", "fanout", 1 << 20, 1, 4,
       {"shoal.broadcast.loan"}, {}, {}},
      {"fan-out, 1 MiB, 1 writer to 1 reader", "fanout", 1 << 20, 1, 1,
       {"shoal.broadcast.loan", "shoal.channel.loan"}, {}, {}},
      {"`Pool.apply` round trip", "pool-apply", 0, 0, 0, {"shoal.pool"}, {"python.pool"}, {}},
      {"`Pool.map`, per item", "pool-map", 0, 0, 0, {"shoal.pool"}, {"python.pool"}, {}},
      {"`Executor.submit().result()`", "executor-submit", 0, 0, 0, {"shoal.pool"},
       {"python.pool"}, {}},
      {"`Lock` acquire + release, uncontended", "lock-uncontended", 0, 0, 0, {"shoal.lock"},
       {"python.lock"}, {"floor.pthread"}},
  };
  return kRows;
}

const Row* Find(const std::vector<Row>& rows, const std::string& workload,
                std::size_t size, int p, int c, const std::string& method) {
  for (const Row& r : rows) {
    if (r.workload == workload && r.size == size && r.producers == p &&
        r.consumers == c && r.method == method && Usable(r)) {
      return &r;
    }
  }
  return nullptr;
}

// The cheapest usable peer row of a workload passing `pred`.
template <class Pred>
const Row* BestPeer(const std::vector<Row>& rows, const ReadmeRow& spec, Pred pred) {
  const Row* b = nullptr;
  for (const Row& r : rows) {
    if (r.workload != spec.workload || r.size != spec.size ||
        r.producers != spec.producers || r.consumers != spec.consumers || !Usable(r) ||
        !(IsPeer(r.family) || (spec.workload == "scaling" && r.family != Family::kShoal)) ||
        !pred(r)) {
      continue;
    }
    if (b == nullptr || Cost(r) < Cost(*b)) b = &r;
  }
  return b;
}

std::string WaitsNote(const Row& r) {
  if (r.waits.empty() || r.waits == "-") return "";
  return " (" + r.waits + ")";
}

// "`shoal.queue` (spin, then sleep) 1.22 µs".
std::string Cell(const Row& r) {
  std::string fig = Figure(r);
  // Markdown for people: the micro sign.
  const auto us = fig.find(" us");
  if (us != std::string::npos) fig.replace(us, 3, " µs");
  return "`" + r.method + "`" + WaitsNote(r) + " " + fig;
}

std::string Times(double x) {
  return x >= 1 ? Num(x) + "x slower" : Num(1 / x) + "x faster";
}

Json Entry(const Row& r, const std::string& role) {
  Json e;
  e["method"] = r.method;
  e["role"] = role;
  e["median"] = r.median;
  e["unit"] = r.unit;
  e["lower_is_better"] = r.lower_is_better;
  e["waits"] = r.waits;
  return e;
}

double CostOf(double median, bool lower_is_better) {
  return lower_is_better ? median : (median > 0 ? 1.0 / median : 0);
}

}  // namespace

void WriteReadmeTable(const std::vector<Row>& rows, const Machine& m,
                      const Config& cfg) {
  std::ostringstream md;
  Json doc;
  doc["source"] = cfg.command + " (" + cfg.mode + " mode), " + m.date + ", " + m.Line() +
                  ", load " + m.load_start;
  doc["rows"] = Json::array();
  md << "From the shoot-out (`" << cfg.command << "`, " << m.date << ", " << m.Line()
     << ", Linux " << m.kernel << "; "
     << (cfg.pin ? "driver and peer pinned to different CPUs; " : "")
     << "every message checked on arrival). Ratios are within one run on one machine; "
        "`bench/RESULTS.md` has the full table and the commands, and `bench/results/` "
        "the run's report, plots and every sample.\n\n";
  if (m.Busy()) {
    md << "**Measured under load** (load average " << m.load_start << " on " << m.nproc
       << " CPUs): spinning methods and floors wait for time slices, so their figures "
          "and ratios are not representative.\n\n";
  }
  md << "| workload | shoal | best peer in the same run (its mode) | floor |\n"
     << "| --- | --- | --- | --- |\n";
  for (const ReadmeRow& spec : ReadmeRows()) {
    Json jr;
    jr["label"] = spec.label;
    jr["workload"] = spec.workload;
    jr["size"] = spec.size;
    jr["producers"] = spec.producers;
    jr["consumers"] = spec.consumers;
    jr["entries"] = Json::array();
    std::vector<std::string> shoal, peers, floors;
    const Row* lead = nullptr;
    for (const auto& name : spec.shoal) {
      if (const Row* r = Find(rows, spec.workload, spec.size, spec.producers,
                              spec.consumers, name)) {
        shoal.push_back(Cell(*r));
        jr["entries"].push_back(Entry(*r, "shoal"));
        if (lead == nullptr) lead = r;
      }
    }
    if (lead == nullptr) continue;  // not measured in this run
    std::vector<const Row*> quoted;
    const Row* best = BestPeer(rows, spec, [](const Row&) { return true; });
    if (best != nullptr) {
      quoted.push_back(best);
      const bool polls = best->waits == kWaitsPoll;
      if (const Row* other =
              BestPeer(rows, spec, [&](const Row& r) { return (r.waits == kWaitsPoll) != polls; })) {
        quoted.push_back(other);
      }
      if (best->zero_copy) {
        if (const Row* copying = BestPeer(rows, spec, [](const Row& r) { return !r.zero_copy; });
            copying != nullptr &&
            std::find(quoted.begin(), quoted.end(), copying) == quoted.end()) {
          quoted.push_back(copying);
        }
      }
    }
    for (const auto& name : spec.peers) {
      const Row* r = Find(rows, spec.workload, spec.size, spec.producers, spec.consumers, name);
      if (r != nullptr && std::find(quoted.begin(), quoted.end(), r) == quoted.end()) {
        quoted.push_back(r);
      }
    }
    for (std::size_t i = 0; i < quoted.size(); ++i) {
      const Row& r = *quoted[i];
      peers.push_back(Cell(r) + ", " + Times(Cost(r) / Cost(*lead)) + " than `" +
                      lead->method + "`");
      jr["entries"].push_back(Entry(r, i == 0 ? "best peer" : "peer"));
    }
    for (const auto& name : spec.floors) {
      if (const Row* r = Find(rows, spec.workload, spec.size, spec.producers,
                              spec.consumers, name)) {
        floors.push_back(Cell(*r));
        jr["entries"].push_back(Entry(*r, r->family == Family::kRef ? "reference" : "floor"));
      }
    }
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : "; ") + x;
      return s;
    };
    md << "| " << spec.label << " | " << join(shoal) << " | " << join(peers) << " | "
       << join(floors) << " |\n";
    doc["rows"].push_back(jr);
  }
  md << "\nHow each method waits: *spin, then sleep* = shoal's adaptive wait (spins "
        "up to 20 µs, yielding the CPU past 1 µs, then sleeps on a futex); *sleep* = "
        "blocks in the kernel or the library; *busy-poll* = calls the non-blocking "
        "form in a loop (a CPU kept busy while waiting); *spin* = the floors.\n";
  std::ofstream(cfg.out + "/readme-table.md") << md.str();
  std::ofstream(cfg.out + "/readme-table.json") << doc.dump(2) << "\n";
}

std::vector<std::string> ReadmeContradictions(const std::vector<Row>& rows,
                                              const Config& cfg, std::string* source) {
  std::vector<std::string> out;
  if (cfg.readme_table.empty()) return out;
  Json doc;
  try {
    std::ifstream f(cfg.readme_table);
    doc = Json::parse(f);
  } catch (const std::exception& e) {
    out.push_back(std::string("the README's figures could not be read: ") + e.what());
    return out;
  }
  *source = doc.value("source", "");
  if (!doc.contains("rows") || !doc["rows"].is_array()) return out;
  for (const Json& jr : doc["rows"]) {
    const std::string label = jr.value("label", "?");
    const std::string workload = jr.value("workload", "");
    const std::size_t size = jr.value("size", std::size_t{0});
    const int p = jr.value("producers", 0), c = jr.value("consumers", 0);
    struct E {
      std::string method, role;
      double cost;
      const Row* run;
    };
    std::vector<E> es;
    if (!jr.contains("entries")) continue;
    for (const Json& je : jr["entries"]) {
      E e;
      e.method = je.value("method", "");
      e.role = je.value("role", "");
      e.cost = CostOf(je.value("median", 0.0), je.value("lower_is_better", true));
      e.run = Find(rows, workload, size, p, c, e.method);
      if (e.cost > 0) es.push_back(e);
    }
    for (const E& s : es) {
      if (s.role != "shoal" || s.run == nullptr) continue;
      for (const E& o : es) {
        if (o.role == "shoal" || o.run == nullptr) continue;
        const double readme = s.cost / o.cost;      // < 1: README says s is faster
        const double here = Cost(*s.run) / Cost(*o.run);
        const auto word = [](double r) { return r < 1 ? "faster" : "slower"; };
        const auto by = [](double r) { return Num(r < 1 ? 1 / r : r) + "x"; };
        if (std::fabs(std::log(readme)) > std::log(1.1) &&
            std::fabs(std::log(here)) > std::log(1.1) && (readme < 1) != (here < 1)) {
          out.push_back(label + ": the README has " + s.method + " " + by(readme) + " " +
                        word(readme) + " than " + o.method + "; here it is " + by(here) +
                        " " + word(here));
        } else if (here / readme > 3 || readme / here > 3) {
          out.push_back(label + ": the README has " + s.method + " " + by(readme) + " " +
                        word(readme) + " than " + o.method + "; here " + by(here) + " " +
                        word(here) + " (more than 3x apart)");
        }
      }
    }
    // The README's best peer: is another peer (any mode) clearly faster here?
    for (const E& b : es) {
      if (b.role != "best peer" || b.run == nullptr) continue;
      ReadmeRow spec{label, workload, size, p, c, {}, {}, {}};
      const Row* best = BestPeer(rows, spec, [](const Row&) { return true; });
      if (best != nullptr && best->method != b.method && Cost(*best) * 1.1 < Cost(*b.run)) {
        out.push_back(label + ": the README names " + b.method +
                      " the best peer; here " + best->method + " (" + best->waits +
                      ") is faster: " + Figure(*best) + " against " + Figure(*b.run));
      }
    }
  }
  return out;
}

}  // namespace shoal::shootout
