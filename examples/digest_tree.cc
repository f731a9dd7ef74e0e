// digest_tree DIR: a SHA-512 digest of every file under DIR, computed by a
// pool of processes with imap_unordered and a chunk size.
//
// The Python original (the multiprocessing tour's "digest map"):
//
//   def compute_digest(filename):
//       try:
//           f = open(filename, "rb")
//       except IOError:
//           return None
//       digest = hashlib.sha512()
//       while True:
//           chunk = f.read(BUFSIZE)
//           if not chunk: break
//           digest.update(chunk)
//       f.close()
//       return filename, digest.digest()
//
//   def build_digest_map(topdir):
//       digest_pool = multiprocessing.Pool(POOLSIZE)
//       allfiles = (os.path.join(path, name)
//                   for path, dirs, files in os.walk(topdir) for name in files)
//       digest_map = dict(digest_pool.imap_unordered(compute_digest, allfiles, 20))
//       digest_pool.close()
//       return digest_map
//
// Shows: imap_unordered over a lazy generator (the directory walk runs in
// the parent while workers hash: the pool pulls paths only a few chunks
// ahead), a chunk size (20 paths per task), a result type of your own that
// travels through cereal (a struct with a serialize() member), and a C
// library used in the workers (OpenSSL's EVP API, from Debian's libssl-dev).
// A file that cannot be read is reported with the reason; it is not fatal.
//
// Prints "path  hexdigest" per file, sorted by path, then a summary line;
// unreadable files go to stderr.
//
//   bazel run //examples:digest_tree -- /usr/include/openssl
//   bazel run //examples:digest_tree -- --processes=4 --chunksize=50 /usr/share/doc
//
// The same program on MPI ranks (//examples:mpi_digest_tree, built from this
// file with SHOAL_EXAMPLE_MPI): only the init call and the pool's type
// differ (the three #if blocks). Rank 0 walks the tree; the other ranks hash,
// each with a local pool of --processes workers (hierarchical mode; 0 hashes
// in the rank itself):
//
//   bazel build //examples:mpi_digest_tree
//   mpirun -np 3 bazel-bin/examples/mpi_digest_tree /usr/share/doc
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <openssl/evp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "shoal/pool/context.h"
#include "shoal/pool/pool.h"
#if SHOAL_EXAMPLE_MPI
#include "shoal/mpi/init.h"
#include "shoal/mpi/pool.h"
#endif

ABSL_FLAG(int, processes, 2, "worker processes (POOLSIZE)");
ABSL_FLAG(int, chunksize, 20, "paths per task");
ABSL_FLAG(std::string, start_method, "fork",
          "fork or spawn (Python's set_start_method)");

namespace {

constexpr std::size_t kBufSize = 8192;  // read buffer (BUFSIZE)

// What a worker sends back for one path.
struct Digest {
  std::string path;
  std::string hex;    // the SHA-512 in hex; empty when the file was unreadable
  std::string error;  // why it could not be read
  uint64_t bytes = 0;

  template <class Archive>
  void serialize(Archive& a) {
    a(path, hex, error, bytes);
  }
};

Digest compute_digest(std::string path) {
  Digest d;
  d.path = std::move(path);
  // O_NONBLOCK: opening a FIFO must not hang the worker.
  const int fd = open(d.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    d.error = std::strerror(errno);
    return d;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    d.error = "not a regular file";
    close(fd);
    return d;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                               EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr);
  unsigned char buf[kBufSize];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      d.error = std::strerror(errno);
      close(fd);
      return d;
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf, static_cast<std::size_t>(n));
    d.bytes += static_cast<uint64_t>(n);
  }
  close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    d.hex += kHex[md[i] >> 4];
    d.hex += kHex[md[i] & 15];
  }
  return d;
}

}  // namespace

int main(int argc, char** argv) {
#if SHOAL_EXAMPLE_MPI
  shoal::mpi::init(argc, argv);  // ranks 1..N-1 hash files, never return
#else
  shoal::init(argc, argv);
#endif
  absl::SetProgramUsageMessage("digest_tree [--processes=N] [--chunksize=N] DIR");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  shoal::set_start_method(absl::GetFlag(FLAGS_start_method));
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: digest_tree [--processes=N] [--chunksize=N] DIR\n");
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path topdir = args[1];
  std::error_code ec;
  if (!fs::is_directory(topdir, ec)) {
    std::fprintf(stderr, "digest_tree: %s is not a directory\n", args[1]);
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();

  // allfiles: a generator over the tree, like os.walk's file names.
  // Directories the walk may not enter are skipped, as os.walk does.
  auto it = fs::recursive_directory_iterator(
      topdir, fs::directory_options::skip_permission_denied, ec);
  auto allfiles = [it = std::move(it)]() mutable -> std::optional<std::string> {
    std::error_code ec;
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        std::fprintf(stderr, "digest_tree: walk stopped: %s\n",
                     ec.message().c_str());
        return std::nullopt;
      }
      if (!it->is_directory(ec)) {
        std::string path = it->path().string();
        it.increment(ec);
        return path;
      }
    }
    return std::nullopt;
  };

  const std::size_t processes = absl::GetFlag(FLAGS_processes);
  const std::size_t chunksize = absl::GetFlag(FLAGS_chunksize);
#if SHOAL_EXAMPLE_MPI
  shoal::mpi::Pool digest_pool(
      shoal::mpi::PoolOptions{.processes_per_rank = processes});
#else
  shoal::Pool digest_pool(processes);
#endif
  std::map<std::string, Digest> digest_map;
  std::map<std::string, std::string> unreadable;
  for (Digest& d : digest_pool.imap_unordered(compute_digest, allfiles, chunksize)) {
    if (d.hex.empty()) {
      unreadable[d.path] = d.error;
    } else {
      std::string path = d.path;
      digest_map.emplace(std::move(path), std::move(d));
    }
  }
  digest_pool.close();
  digest_pool.join();

  uint64_t bytes = 0;
  for (const auto& [path, d] : digest_map) {
    std::printf("%s  %s\n", path.c_str(), d.hex.c_str());
    bytes += d.bytes;
  }
  for (const auto& [path, why] : unreadable) {
    std::fprintf(stderr, "unreadable: %s: %s\n", path.c_str(), why.c_str());
  }
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start).count();
  std::printf("%zu files hashed (%llu bytes), %zu unreadable, in %.1f ms "
              "with %zu workers, chunksize %zu\n",
              digest_map.size(), static_cast<unsigned long long>(bytes),
              unreadable.size(), ms, digest_pool.processes(), chunksize);
  return 0;
}
