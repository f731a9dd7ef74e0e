// Writes the seed corpus of the fuzz targets into the directory given as
// argv[1] (tests/fuzz/corpus). Run once; the output is checked in:
//   bazel run //tests/fuzz:make_seeds -- $PWD/tests/fuzz/corpus
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "shoal/ipc/codec.h"
#include "shoal/ipc/internal/codec_fuzz.h"
#include "shoal/ipc/internal/queue_core.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/region.h"
#include "tests/fuzz/fuzz_types.h"

namespace {

void Write(const std::string& dir, const std::string& name,
           const std::string& bytes) {
  mkdir(dir.c_str(), 0755);
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Frame(const std::string& payload) {
  uint64_t n = payload.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + payload;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shoal;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const std::string root = argv[1];
  mkdir(root.c_str(), 0755);

  // codec: encodings of FuzzComposite values.
  {
    internal::FuzzComposite empty{};
    Write(root + "/codec", "empty", Encode(empty));
    internal::FuzzComposite full{};
    std::get<0>(full).push_back(
        {{"a", std::nullopt}, {"b", std::variant<int64_t, std::string, double,
                                                 std::monostate>(int64_t{7})}});
    std::get<1>(full) = {true, {1, 2, 3}};
    std::get<2>(full) = {1, 5, 9};
    std::get<3>(full) = {true, false, true};
    std::get<4>(full)[3] = {1.5, 2.5};
    std::get<5>(full).insert({1, "x"});
    std::get<5>(full).insert({1, "y"});
    internal::FuzzRecord rec;
    rec.name = "rec";
    rec.values = {1, 2};
    rec.weight = 0.5;
    rec.tags["k"] = {"v"};
    std::get<6>(full).push_back(rec);
    std::get<7>(full)[1] = "opt";
    std::get<8>(full) = "tail";
    Write(root + "/codec", "full", Encode(full));
  }

  // connection: a mode byte, then frames.
  {
    std::vector<std::string> v = {"alpha", "beta"};
    for (char mode : {'\0', '\1', '\2', '\3'}) {
      std::string s(1, mode);
      s += Frame("hello") + Frame(Encode(v)) + Frame(std::string(40, 'z'));
      Write(root + "/connection", std::string("frames_") + char('0' + mode), s);
    }
    Write(root + "/connection", "truncated",
          std::string(1, '\3') + Frame("complete") + Frame("cut").substr(0, 9));
  }

  // region: a whole valid region file.
  {
    Region r = Region::Create(sizeof(fuzz::RegionFuzzPayload),
                              fuzz::RegionFuzzLayout());
    r.at<fuzz::RegionFuzzPayload>(0)->a = 1;
    r.PublishReady();
    std::string bytes(r.total_size(), '\0');
    if (pread(r.fd(), bytes.data(), bytes.size(), 0) !=
        static_cast<ssize_t>(bytes.size())) {
      std::fprintf(stderr, "pread failed\n");
      return 1;
    }
    Write(root + "/region", "valid", bytes);
  }

  // queue: the ring and heap bytes of a queue holding items, in the order
  // queue_fuzz writes them.
  {
    Queue<std::string> q(fuzz::QueueFuzzOptions());
    q.put("seed item");
    q.put(std::string(100, 'x'));
    q.put("third");
    const std::byte* base = q.region().payload();
    auto* qs = q.region().at<internal::QueueShared>(0);
    std::string bytes(reinterpret_cast<const char*>(base + qs->ring_offset),
                      qs->ring_bytes);
    const size_t hh = sizeof(internal::BlockHeapShared);
    bytes.append(reinterpret_cast<const char*>(base + qs->heap_offset + hh),
                 qs->heap_bytes - hh);
    Write(root + "/queue", "three_items", bytes);
  }
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
