// A main() for fuzz targets built without libFuzzer (GCC, and the sanitizer
// configs of the normal suite): runs every file of the seed corpus through
// LLVMFuzzerTestOneInput, then a fixed-seed batch of random and mutated
// inputs. Coverage-guided fuzzing is tools/fuzz.sh (clang + libFuzzer); this
// keeps the targets and their corpus from rotting, in every `bazel test`.
//
//   <target>_test [corpus dir or files...]
// The corpus directory defaults to $TEST_SRCDIR/shoal/tests/fuzz/corpus/<name>
// via the SHOAL_FUZZ_CORPUS environment variable set in BUILD.
#include <dirent.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> ListFiles(const std::string& path) {
  std::vector<std::string> out;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return out;
  if (!S_ISDIR(st.st_mode)) {
    out.push_back(path);
    return out;
  }
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    out.push_back(path + "/" + name);
  }
  closedir(d);
  return out;
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    auto f = ListFiles(argv[i]);
    files.insert(files.end(), f.begin(), f.end());
  }
  if (argc == 1) {
    const char* src = std::getenv("TEST_SRCDIR");
    const char* rel = std::getenv("SHOAL_FUZZ_CORPUS");
    if (src != nullptr && rel != nullptr) {
      files = ListFiles(std::string(src) + "/shoal/" + rel);
    }
  }
  std::vector<std::vector<uint8_t>> seeds;
  for (const auto& f : files) seeds.push_back(ReadFile(f));
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());

  // Cheap, deterministic exploration: random bytes and byte-level mutations
  // of the seeds (bit flips, truncations, inserted runs).
  std::mt19937_64 rng(12345);
  const int iterations = std::getenv("SHOAL_FUZZ_ITERATIONS")
                             ? std::atoi(std::getenv("SHOAL_FUZZ_ITERATIONS"))
                             : 3000;
  long executed = static_cast<long>(seeds.size());
  for (int i = 0; i < iterations; ++i) {
    std::vector<uint8_t> in;
    if (seeds.empty() || i % 4 == 0) {
      in.resize(rng() % 512);
      for (auto& b : in) b = static_cast<uint8_t>(rng());
    } else {
      in = seeds[rng() % seeds.size()];
      int edits = 1 + static_cast<int>(rng() % 8);
      for (int e = 0; e < edits && !in.empty(); ++e) {
        size_t at = rng() % in.size();
        switch (rng() % 4) {
          case 0: in[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
          case 1: in[at] = static_cast<uint8_t>(rng()); break;
          case 2: in.resize(at); break;
          case 3: in.insert(in.begin() + at, 1 + rng() % 16,
                            static_cast<uint8_t>(rng())); break;
        }
      }
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
    ++executed;
  }
  std::printf("replayed %zu seed files and %ld inputs in total: no crash\n",
              seeds.size(), executed);
  return 0;
}
