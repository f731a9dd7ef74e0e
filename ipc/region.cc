// Copyright 2026 The shoal Authors.
#include "shoal/ipc/region.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "shoal/base/deadline.h"
#include "shoal/base/internal/futex.h"
#include "shoal/base/internal/process_liveness.h"

namespace shoal {
namespace internal {
namespace {

// String concatenation for messages. (Debian's Abseil has its own
// absl::string_view, which std::string_view does not convert to, so
// absl::StrCat would need a conversion at every call.)
template <class T>
void CatOne(std::string& out, const T& v) {
  if constexpr (std::is_arithmetic_v<T>) {
    out += std::to_string(v);
  } else {
    out += std::string_view(v);
  }
}
template <class... Ts>
std::string Cat(const Ts&... parts) {
  std::string out;
  (CatOne(out, parts), ...);
  return out;
}

}  // namespace

// The process-local object every copy of a Region handle shares.
class RegionMapping {
 public:
  std::byte* base = nullptr;
  uint64_t total_size = 0;
  int fd = -1;
  RegionKind kind = RegionKind::kAnonymous;
  std::string name;  // named: "shoal.x"; memfd: label; anonymous: ""
  bool creator = false;
  pid_t creator_pid = 0;  // getpid() of the creating call
  std::atomic<bool> unlinked{false};
  void (*destroy_payload)(void*) = nullptr;

  RegionHeader* header() const { return reinterpret_cast<RegionHeader*>(base); }
  ~RegionMapping();
};

namespace {

constexpr const char* kShmDir = "/dev/shm";
constexpr std::string_view kPrefix = "shoal.";
// Files being created (see Region::Create): "shoal.~new.<pid>.<start>.<ns>.x".
constexpr std::string_view kHalfMadePrefix = "shoal.~new.";
constexpr size_t kMaxSuffixLength = kMaxRegionNameLength - kPrefix.size();

// ---------------------------------------------------------------------------
// Process-local registry: region id -> mapping. Lets Open(ref) reuse a mapping
// this process already has (and makes anonymous regions openable by ref in
// fork()ed children, which inherit both the mapping and this table).

using RegionId = std::pair<uint64_t, uint64_t>;

struct Registry {
  std::mutex mu;
  std::map<RegionId, std::weak_ptr<RegionMapping>> table;
  // Every mapping of this process by base address, for ReserveBacking.
  std::map<uintptr_t, std::weak_ptr<RegionMapping>> by_address;
};

Registry& GetRegistry();

void AtforkPrepare() { GetRegistry().mu.lock(); }
void AtforkRelease() { GetRegistry().mu.unlock(); }

Registry& GetRegistry() {
  // Leaked on purpose: mappings may be released during static destruction.
  static Registry* r = [] {
    auto* reg = new Registry;
    // A fork() while another thread holds the mutex would leave the child's
    // copy locked forever; holding it across fork() prevents that.
    pthread_atfork(&AtforkPrepare, &AtforkRelease, &AtforkRelease);
    return reg;
  }();
  return *r;
}

RegionId IdOf(const RegionHeader& h) { return {h.id[0], h.id[1]}; }

void Register(const std::shared_ptr<RegionMapping>& m) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto& slot = r.table[IdOf(*m->header())];
  if (slot.expired()) slot = m;
  r.by_address[reinterpret_cast<uintptr_t>(m->base)] = m;
}

// The mapping of this process that contains [addr, addr + len), or null.
std::shared_ptr<RegionMapping> LookupAddress(const void* addr, uint64_t len) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_address.upper_bound(a);
  if (it == r.by_address.begin()) return nullptr;
  --it;
  std::shared_ptr<RegionMapping> m = it->second.lock();
  if (m == nullptr || a - it->first > m->total_size ||
      len > m->total_size - (a - it->first)) {
    return nullptr;
  }
  return m;
}

std::shared_ptr<RegionMapping> Lookup(const RegionId& id) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.table.find(id);
  if (it == r.table.end()) return nullptr;
  return it->second.lock();
}

void Unregister(const RegionId& id, const void* base) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.table.find(id);
  if (it != r.table.end() && it->second.expired()) r.table.erase(it);
  auto at = r.by_address.find(reinterpret_cast<uintptr_t>(base));
  if (at != r.by_address.end() && at->second.expired()) r.by_address.erase(at);
}

// ---------------------------------------------------------------------------

[[noreturn]] void Invalid(const std::string& what) {
  throw InvalidRegion(what);
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

// A region whose layout hash is not the one the opener expects. The same
// type name with another hash is the same structure in another shared layout
// (a layout version bumped by a newer shoal, or another build or compiler):
// "opened as X" with X the name it holds would not say that.
[[noreturn]] void LayoutMismatch(const std::string& desc,
                                 std::string_view held_type,
                                 uint64_t held_hash,
                                 const RegionLayout& expected) {
  if (held_type == expected.type_name) {
    Invalid(Cat(desc, " holds ", held_type,
                " in a different shared layout than this program's ",
                expected.type_name,
                " (made by another version of shoal, or another build or "
                "compiler; layout hash ",
                Hex64(held_hash), " != ", Hex64(expected.hash), ")"));
  }
  Invalid(Cat(desc, " holds ", held_type, " but was opened as ",
              expected.type_name, " (layout hash ", Hex64(held_hash), " != ",
              Hex64(expected.hash), ")"));
}

std::string Octal(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04o", v);
  return buf;
}

// "4.0 MiB", or "512 bytes".
std::string ShortBytes(uint64_t n) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[48];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 " bytes", n);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

// "4.0 MiB (4194560 bytes)".
std::string HumanBytes(uint64_t n) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 " bytes", n);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s (%" PRIu64 " bytes)", v,
                  kUnits[u], n);
  }
  return buf;
}

// A file larger than RLIMIT_FSIZE makes the kernel send SIGXFSZ, which kills
// the process by default: refuse such a region before asking.
void CheckFileSizeLimit(uint64_t total, const std::string& desc) {
  rlimit lim;
  if (getrlimit(RLIMIT_FSIZE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY ||
      total <= lim.rlim_cur) {
    return;
  }
  throw SystemError(
      Cat(desc, " needs a file of ", HumanBytes(total),
          ", more than this process's file size limit RLIMIT_FSIZE (ulimit "
          "-f) of ",
          HumanBytes(lim.rlim_cur), ": raise the limit or ask for less"),
      EFBIG);
}

// Allocates [offset, offset + len) of the shared-memory file `fd` now, so
// that a full /dev/shm (or a memory cgroup at its limit) is this error
// rather than SIGBUS (or an OOM kill) at the first touch of a page later.
void ReserveFile(int fd, RegionKind kind, uint64_t offset, uint64_t len,
                 const std::string& desc) {
  if (len == 0) return;
  int rc;
  do {
    rc = posix_fallocate(fd, static_cast<off_t>(offset),
                         static_cast<off_t>(len));
  } while (rc == EINTR);
  if (rc == 0) return;
  const bool named = kind == RegionKind::kNamed;
  std::string free_text;
  struct statvfs sv;
  if (fstatvfs(fd, &sv) == 0 && sv.f_blocks != 0) {
    free_text = Cat(
        "only ", ShortBytes(static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize),
        " of ", ShortBytes(static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize),
        " is free");
  } else {
    free_text = "the system (or this process's memory cgroup) has no more";
  }
  throw SystemError(
      Cat(desc, " needs ", HumanBytes(len), " of shared memory in ",
          named ? "/dev/shm" : "memory (memfd)", ", but ", free_text, " (",
          std::strerror(rc), ")",
          named ? "; make room in /dev/shm (`shoal gc` removes the regions of "
                  "dead processes) or ask for less"
                : "; ask for less"),
      rc);
}

// "a FIFO", "a directory", ...: what a file that is not a region is.
const char* FileTypeName(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
  }
  return "a special file";
}

// What is at /dev/shm/<name> when it is not a regular file (never following
// a symbolic link): "a FIFO", ...; "" for a regular file or nothing.
std::string SpecialFileAt(const std::string& name) {
  struct stat st;
  const std::string path = Cat(kShmDir, "/", name);
  if (lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return "";
  return FileTypeName(st.st_mode);
}

// Whether the creator a (validated) header names is alive, dead, or out of
// sight (another pid namespace).
Liveness CreatorLiveness(const RegionHeader& h) {
  ProcessIdentity who;
  who.pid = h.creator_pid;
  who.start_time = h.creator_start_time;
  who.pid_ns = h.creator_pid_ns;
  return CheckLiveness(who);
}

// The checks that need only the header bytes and the file size. Returns ""
// when they pass, else what is wrong (without the region's name).
std::string CheckHeader(const RegionHeader& h, uint64_t file_size) {
  static const char kZero[8] = {};
  if (std::memcmp(h.magic, kRegionMagic, 8) != 0) {
    if (std::memcmp(h.magic, kZero, 8) == 0) {
      return "has no header (zero magic): not a shoal region";
    }
    return Cat("has bad magic 0x", Hex64([&] {
                 uint64_t m;
                 std::memcpy(&m, h.magic, 8);
                 return m;
               }()),
               ": not a shoal region");
  }
  if (h.version != kRegionLayoutVersion) {
    return Cat("has layout version ", h.version, ", expected ",
               kRegionLayoutVersion, " (made by a different shoal build)");
  }
  if (h.header_size != kRegionHeaderSize) {
    return Cat("has header size ", h.header_size, ", expected ",
               kRegionHeaderSize);
  }
  uint64_t sum = RegionHeaderChecksum(h);
  if (sum != h.checksum) {
    return Cat("has a bad header checksum (stored ", Hex64(h.checksum),
               ", computed ", Hex64(sum), "): the header is corrupt");
  }
  if (h.total_size < kRegionHeaderSize || h.total_size > kMaxRegionSize) {
    return Cat("has an absurd total size ", h.total_size, " (must be in [",
               kRegionHeaderSize, ", ", kMaxRegionSize, "])");
  }
  if (h.total_size > file_size) {
    return Cat("is truncated: its header says total size ", h.total_size,
               " but the file has only ", file_size, " bytes");
  }
  if (h.kind < 1 || h.kind > 3) {
    return Cat("has an invalid kind ", h.kind);
  }
  return "";
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

std::shared_ptr<RegionMapping> MapAndValidate(int fd_in, RegionKind kind,
                                              std::string name,
                                              const std::string& desc,
                                              const RegionLayout& expected,
                                              const OpenOptions& options) {
  FdCloser fd{fd_in};
  const Deadline deadline(options.init_timeout);
  const auto waited = [&] {
    return Cat(" (waited ", options.init_timeout.count(), " ms)");
  };
  RegionHeader h;
  uint64_t file_size = 0;
  {
    struct stat st;
    if (fstat(fd.fd, &st) != 0) ThrowSystemError("fstat " + desc, errno);
    if (!S_ISREG(st.st_mode)) {
      internal::Invalid(Cat(desc, " is ", FileTypeName(st.st_mode),
                            ", not a regular file: not a shoal region"));
    }
    if (st.st_uid != geteuid()) {
      internal::Invalid(Cat(desc, " is owned by uid ", st.st_uid,
                            ", not by this process's uid ", geteuid(),
                            "; refusing to attach"));
    }
    if (st.st_mode & S_IWOTH) {
      internal::Invalid(Cat(desc, " is world-writable (mode ",
                            Octal(st.st_mode & 07777),
                            "); refusing to attach"));
    }
    file_size = static_cast<uint64_t>(st.st_size);
    // Named regions appear under their name only once their header is
    // complete (see Region::Create), and a memfd's creator hands out its fd
    // only after creating it: a short file is not a shoal region.
    if (file_size < kRegionHeaderSize) {
      internal::Invalid(Cat(desc, " is ", file_size,
                            " bytes, shorter than the ", kRegionHeaderSize,
                            "-byte header",
                            file_size == 0 ? " (empty): not a shoal region"
                                           : ": not a shoal region"));
    }
    ssize_t n;
    do {
      n = pread(fd.fd, &h, sizeof(h), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) ThrowSystemError("pread " + desc, errno);
    if (static_cast<size_t>(n) != sizeof(h)) {
      internal::Invalid(
          Cat(desc, ": short read of the header (", n, " bytes)"));
    }
  }
  std::string problem = CheckHeader(h, file_size);
  if (!problem.empty()) Invalid(Cat(desc, " ", problem));
  if (h.layout_hash != expected.hash) {
    LayoutMismatch(desc, RegionHeaderTypeName(h), h.layout_hash, expected);
  }

  void* addr =
      mmap(nullptr, h.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.fd, 0);
  if (addr == MAP_FAILED) ThrowSystemError("mmap " + desc, errno);
  auto m = std::make_shared<RegionMapping>();
  m->base = static_cast<std::byte*>(addr);
  m->total_size = h.total_size;
  m->fd = fd.release();
  m->kind = kind;
  m->name = std::move(name);

  // Validate what is now mapped (the file could have changed since pread).
  if (std::memcmp(m->base, &h, offsetof(RegionHeader, init_state)) != 0) {
    internal::Invalid(Cat(desc, " changed while it was being opened"));
  }

  // Wait until the creator has published the payload.
  RegionHeader* live = m->header();
  for (;;) {
    uint32_t state = live->init_state.load(std::memory_order_acquire);
    if (state == kInitReady) break;
    if (state == kInitFailed) {
      internal::Invalid(Cat(desc, ": its creator (pid ", h.creator_pid,
                            ") failed while constructing ",
                            RegionHeaderTypeName(h)));
    }
    if (state != kInitConstructing) {
      internal::Invalid(Cat(desc, " has an invalid init state ", state));
    }
    if (CreatorLiveness(h) == Liveness::kDead) {
      // Re-check: the creator may have published and then exited.
      if (live->init_state.load(std::memory_order_acquire) == kInitReady) break;
      internal::Invalid(Cat(desc, ": its creator (pid ", h.creator_pid,
                            ") died before the region was ready"));
    }
    if (deadline.expired()) {
      internal::Invalid(Cat(desc, " is not ready: its creator (pid ",
                            h.creator_pid, ") is still constructing ",
                            RegionHeaderTypeName(h), waited()));
    }
    // Sleep in short slices so a creator that dies is noticed promptly.
    live->init_waiters.fetch_add(1, std::memory_order_seq_cst);
    FutexWait(&live->init_state, kInitConstructing,
              Deadline::Min(deadline, Deadline(std::chrono::milliseconds(10))));
    live->init_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
  Register(m);
  return m;
}

std::string DescribeNamed(std::string_view name) {
  return Cat("region '", name, "'");
}

// Unlinks /dev/shm/<name> if it is a shoal region of our uid with a valid
// header whose creator is gone. The header is read right before unlinking,
// so a region created under the name meanwhile (by a live process) is kept.
bool UnlinkIfStale(const std::string& name) {
  const std::string path = Cat("/", name);
  // O_NONBLOCK: opening a FIFO planted under the name must not wait for a
  // writer; O_NOFOLLOW: a symbolic link is never followed.
  int fd = shm_open(path.c_str(),
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
  if (fd < 0) return false;
  FdCloser closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      static_cast<uint64_t>(st.st_size) < kRegionHeaderSize) {
    return false;
  }
  RegionHeader h;
  if (pread(fd, &h, sizeof(h), 0) != static_cast<ssize_t>(sizeof(h))) {
    return false;
  }
  if (!CheckHeader(h, static_cast<uint64_t>(st.st_size)).empty()) return false;
  // Only what is proven dead: a creator in a pid namespace we cannot see
  // (a container) may be alive.
  if (CreatorLiveness(h) != Liveness::kDead) return false;
  return shm_unlink(path.c_str()) == 0;
}

[[noreturn]] void ThrowNameTaken(const std::string& name) {
  const std::string special = SpecialFileAt(name);
  throw SystemError(
      special.empty()
          ? Cat("cannot create region '", name, "': it already exists (O_EXCL)")
          : Cat("cannot create region '", name,
                "': the name already exists and is ", special,
                ", not a shoal region; remove it (it is not ours)"),
      EEXIST);
}

// Throws SystemError(EEXIST) when /dev/shm/<name> holds something that is
// not a dead creator's region (a dead creator's is removed first).
void CheckNameFree(const std::string& name) {
  struct stat st;
  if (lstat(Cat(kShmDir, "/", name).c_str(), &st) != 0) return;
  const std::string special = SpecialFileAt(name);
  if (special.empty() && UnlinkIfStale(name)) return;
  ThrowNameTaken(name);
}

// Gives the finished file `building` its real name `name`, atomically and
// only if `name` is free (RENAME_NOREPLACE; link+unlink where the file
// system lacks it). A dead creator's region under `name` is swept and the
// link retried once.
void LinkIntoPlace(const std::string& building, const std::string& name) {
  const std::string from = Cat(kShmDir, "/", building);
  const std::string to = Cat(kShmDir, "/", name);
  for (int attempt = 0;; ++attempt) {
    int rc = renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                       RENAME_NOREPLACE);
    int e = rc == 0 ? 0 : errno;
    if (rc != 0 && (e == EINVAL || e == ENOSYS)) {
      rc = link(from.c_str(), to.c_str());
      e = rc == 0 ? 0 : errno;
      if (rc == 0) unlink(from.c_str());
    }
    if (rc == 0) return;
    if (e != EEXIST) ThrowSystemError(Cat("rename ", building, " to ", name), e);
    if (attempt > 0 || !SpecialFileAt(name).empty() || !UnlinkIfStale(name)) {
      ThrowNameTaken(name);
    }
  }
}

// "shoal.~new.<pid>.<start time>.<pid namespace>.<random>": '~' is not
// allowed in user names, so no region can be called this.
std::string HalfMadeName(const ProcessIdentity& who) {
  return Cat(kHalfMadePrefix, who.pid, ".", who.start_time, ".", who.pid_ns,
             ".", RandomHex128().substr(0, 16));
}

bool ParseHalfMadeName(std::string_view name, ProcessIdentity* who) {
  if (name.substr(0, kHalfMadePrefix.size()) != kHalfMadePrefix) return false;
  name.remove_prefix(kHalfMadePrefix.size());
  uint64_t fields[3];
  for (uint64_t& f : fields) {
    const size_t dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot > 20) return false;
    f = 0;
    for (char c : name.substr(0, dot)) {
      if (c < '0' || c > '9') return false;
      f = f * 10 + static_cast<uint64_t>(c - '0');
    }
    name.remove_prefix(dot + 1);
  }
  if (name.size() != 16) return false;
  if (fields[0] == 0 || fields[0] > 0x7fffffff) return false;
  who->pid = static_cast<int32_t>(fields[0]);
  who->start_time = fields[1];
  who->pid_ns = fields[2];
  return true;
}

}  // namespace

RegionMapping::~RegionMapping() {
  if (base == nullptr) return;
  RegionHeader* h = header();
  RegionId id = IdOf(*h);
  // Only the creating process finishes the region's life: a fork()ed child
  // inherits `creator == true` but has another pid.
  if (creator && getpid() == creator_pid) {
    uint32_t state = h->init_state.load(std::memory_order_acquire);
    if (state == kInitReady && destroy_payload != nullptr) {
      destroy_payload(base + kRegionHeaderSize);
    }
    if (state == kInitConstructing) {
      // The creator gave up (its constructor threw): tell waiting openers.
      h->init_state.store(kInitFailed, std::memory_order_seq_cst);
      if (h->init_waiters.load(std::memory_order_seq_cst) != 0) {
        FutexWake(&h->init_state, INT32_MAX);
      }
    }
    if (kind == RegionKind::kNamed && !unlinked.exchange(true)) {
      // Unlink only if the name still refers to our file (someone may have
      // removed it and created another region under the same name).
      std::string path = Cat("/", name);
      int other = shm_open(path.c_str(),
                           O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
      if (other >= 0) {
        struct stat a, b;
        if (fstat(other, &a) == 0 && fstat(fd, &b) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
          shm_unlink(path.c_str());
        }
        close(other);
      }
    }
  }
  munmap(base, total_size);
  if (fd >= 0) close(fd);
  Unregister(id, base);
}

std::string NormalizeRegionName(std::string_view name) {
  std::string_view suffix = name;
  if (suffix.substr(0, kPrefix.size()) == kPrefix) {
    suffix.remove_prefix(kPrefix.size());
  }
  if (suffix.empty()) {
    throw ValueError(Cat("region name '", name, "' is empty"));
  }
  if (suffix.size() > kMaxSuffixLength) {
    throw ValueError(Cat("region name '", name, "' is longer than ",
                         kMaxSuffixLength, " characters"));
  }
  for (char c : suffix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      throw ValueError(
          Cat("region name '", name,
              "' may only contain [A-Za-z0-9._-] (no '/', spaces or control "
              "characters)"));
    }
  }
  return Cat(kPrefix, suffix);
}

std::string RandomHex128() {
  unsigned char buf[16];
  size_t got = 0;
  while (got < sizeof(buf)) {
    ssize_t n = getrandom(buf + got, sizeof(buf) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowSystemError("getrandom", errno);
    }
    got += static_cast<size_t>(n);
  }
  std::string out;
  static const char kDigits[] = "0123456789abcdef";
  for (unsigned char b : buf) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool ProcessAlive(pid_t pid, uint64_t start_time) {
  // Zombies count as gone: a killed, unreaped creator will never finish
  // anything, and its parent is often the very process asking. Same pid,
  // other start time: the pid was reused by an unrelated process.
  ProcessIdentity who;
  who.pid = pid;
  who.start_time = start_time;
  return CheckLiveness(who) != Liveness::kDead;
}

}  // namespace internal

using internal::Cat;
using internal::kRegionHeaderSize;
using internal::Octal;
using internal::RegionHeader;
using internal::RegionMapping;

std::string_view RegionKindName(RegionKind kind) {
  switch (kind) {
    case RegionKind::kAnonymous:
      return "anonymous";
    case RegionKind::kMemfd:
      return "memfd";
    case RegionKind::kNamed:
      return "named";
  }
  return "invalid";
}

std::string_view RegionRef::name_view() const {
  return std::string_view(name, strnlen(name, sizeof(name)));
}

std::string RegionRef::DebugString() const {
  switch (kind) {
    case RegionKind::kNamed:
      return Cat("named region '", name_view(), "'");
    case RegionKind::kMemfd:
      return Cat("memfd region (pid ", pid, " fd ", fd, ")");
    case RegionKind::kAnonymous:
      return Cat("anonymous region (creator pid ", pid, ")");
  }
  return Cat("invalid RegionRef (kind ", static_cast<uint32_t>(kind), ")");
}

Region Region::Create(uint64_t payload_size, const RegionLayout& layout,
                      const RegionOptions& options, uint64_t reserve_payload) {
  if (payload_size > kMaxRegionSize - kRegionHeaderSize) {
    throw ValueError(Cat("region payload of ", payload_size,
                         " bytes is larger than the maximum ",
                         kMaxRegionSize - kRegionHeaderSize));
  }
  const uint64_t total = kRegionHeaderSize + payload_size;
  auto m = std::make_shared<RegionMapping>();
  m->kind = options.kind;
  m->total_size = total;
  internal::FdCloser fd{-1};
  std::string building;  // named: the file's name until it is linked
  std::string unlink_on_error;
  struct Cleanup {
    std::string* path;
    ~Cleanup() {
      if (!path->empty()) shm_unlink(path->c_str());
    }
  } cleanup{&unlink_on_error};

  switch (options.kind) {
    case RegionKind::kAnonymous:
      break;
    case RegionKind::kMemfd: {
      std::string label =
          options.name.empty() ? std::string("shoal") : options.name;
      if (label.size() > 100) label.resize(100);
      fd.fd = memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
      if (fd.fd < 0) ThrowSystemError("memfd_create", errno);
      // memfds are born 0777. Only fd holders and same-uid processes (via
      // /proc) reach them, but openers refuse world-writable files, and a
      // memfd should not be the one exception.
      if (fchmod(fd.fd, 0600) != 0) ThrowSystemError("fchmod memfd", errno);
      m->name = label;
      break;
    }
    case RegionKind::kNamed: {
      if (options.mode & S_IWOTH) {
        throw ValueError(Cat("mode ", Octal(options.mode),
                             " is world-writable; shoal regions never are"));
      }
      if (options.mode & ~0777u) {
        throw ValueError(
            Cat("mode ", Octal(options.mode), " has bits beyond 0777"));
      }
      m->name = options.name.empty()
                    ? Cat("shoal.", internal::RandomHex128())
                    : internal::NormalizeRegionName(options.name);
      // Refuse at once a name that is certainly taken (the link below is
      // what decides, atomically).
      internal::CheckNameFree(m->name);
      // Built under a name of its own, which says who is making it, and
      // linked under the real name only once its header is complete: nobody
      // ever sees a half-made region under a real name, and a creator
      // killed half-way leaves a file the sweep can tell is ours and dead.
      building = internal::HalfMadeName(internal::SelfIdentity());
      const std::string path = Cat("/", building);
      fd.fd = shm_open(path.c_str(),
                       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                       options.mode & 0777);
      if (fd.fd < 0) ThrowSystemError(Cat("shm_open ", building), errno);
      unlink_on_error = path;
      // The umask may have narrowed the mode; never widened it.
      if (fchmod(fd.fd, options.mode & 0777) != 0) {
        ThrowSystemError("fchmod " + m->name, errno);
      }
      break;
    }
    default:
      throw ValueError(
          Cat("invalid region kind ", static_cast<uint32_t>(options.kind)));
  }

  void* addr;
  if (options.kind == RegionKind::kAnonymous) {
    addr = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  } else {
    const std::string desc =
        options.kind == RegionKind::kNamed
            ? internal::DescribeNamed(m->name)
            : Cat("memfd region '", m->name, "'");
    internal::CheckFileSizeLimit(total, desc);
    if (ftruncate(fd.fd, static_cast<off_t>(total)) != 0) {
      ThrowSystemError("ftruncate " + m->name, errno);
    }
    // The memory is allocated now (all of it, or the head a structure with a
    // growing heap asks for), not at the first touch of each page.
    internal::ReserveFile(
        fd.fd, options.kind, 0,
        kRegionHeaderSize + std::min(reserve_payload, payload_size), desc);
    if (options.kind == RegionKind::kMemfd) {
      // Nobody can shrink the file under a mapping (SIGBUS) or grow it.
      if (fcntl(fd.fd, F_ADD_SEALS,
                F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        ThrowSystemError("F_ADD_SEALS", errno);
      }
    }
    addr = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd.fd, 0);
  }
  if (addr == MAP_FAILED) ThrowSystemError("mmap region", errno);
  m->base = static_cast<std::byte*>(addr);
  m->fd = fd.release();
  m->creator = true;
  m->creator_pid = getpid();

  RegionHeader* h = m->header();  // zero-filled by the kernel
  h->version = internal::kRegionLayoutVersion;
  h->header_size = kRegionHeaderSize;
  h->total_size = total;
  h->layout_hash = layout.hash;
  const internal::ProcessIdentity self = internal::SelfIdentity();
  h->creator_pid = m->creator_pid;
  h->kind = static_cast<uint32_t>(options.kind);
  h->creator_start_time = self.start_time;
  h->creator_pid_ns = self.pid_ns;
  {
    std::string id_hex = internal::RandomHex128();
    h->id[0] = std::strtoull(id_hex.substr(0, 16).c_str(), nullptr, 16);
    h->id[1] = std::strtoull(id_hex.substr(16).c_str(), nullptr, 16);
  }
  std::string_view tn =
      layout.type_name.substr(0, internal::kRegionTypeNameSize - 1);
  std::memcpy(h->type_name, tn.data(), tn.size());
  // The checksum covers the magic, but the magic is stored last: anyone
  // who reads the header meanwhile (a memfd's fd holder, the sweep reading
  // a half-made file) sees an all-zero magic, never a valid magic with a
  // checksum not yet written.
  {
    char image[internal::kRegionChecksummedBytes];
    std::memcpy(image, h, sizeof(image));
    std::memcpy(image, internal::kRegionMagic, 8);
    h->checksum = internal::Fnv1a64(std::string_view(image, sizeof(image)));
  }
  h->init_state.store(internal::kInitConstructing, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(h->magic, internal::kRegionMagic, 8);
  if (options.kind == RegionKind::kNamed) {
    // Until the link succeeds the real name is not ours: the mapping must
    // not unlink it if this throws.
    m->unlinked.store(true);
    internal::LinkIntoPlace(building, m->name);
    m->unlinked.store(false);
  }
  unlink_on_error.clear();
  internal::Register(m);
  return Region(std::move(m));
}

Region Region::OpenNamed(std::string_view name, const RegionLayout& expected,
                         const OpenOptions& options) {
  std::string full = internal::NormalizeRegionName(name);
  std::string path = Cat("/", full);
  // O_NONBLOCK: a FIFO (or a device) planted under the name must not block
  // the open; the type is checked with fstat right after. O_NOFOLLOW: a
  // symbolic link is refused, never followed.
  int fd = shm_open(path.c_str(),
                    O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) {
      throw SystemError(Cat("no region named '", full, "'"), e);
    }
    const std::string special = internal::SpecialFileAt(full);
    if (!special.empty()) {
      internal::Invalid(Cat(internal::DescribeNamed(full), " is ", special,
                            ", not a regular file: not a shoal region"));
    }
    ThrowSystemError(Cat("shm_open ", full), e);
  }
  return Region(internal::MapAndValidate(fd, RegionKind::kNamed, full,
                                         internal::DescribeNamed(full),
                                         expected, options));
}

Region Region::FromFd(int fd, const RegionLayout& expected,
                      const OpenOptions& options) {
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) ThrowSystemError(Cat("dup fd ", fd), errno);
  return Region(internal::MapAndValidate(dup_fd, RegionKind::kMemfd, "",
                                         Cat("region at fd ", fd), expected,
                                         options));
}

Region Region::OpenProcFd(pid_t pid, int fd, const RegionLayout& expected,
                          const OpenOptions& options) {
  std::string path = Cat("/proc/", pid, "/fd/", fd);
  int own = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (own < 0) ThrowSystemError(Cat("open ", path), errno);
  return Region(internal::MapAndValidate(
      own, RegionKind::kMemfd, "", Cat("region at ", path), expected, options));
}

Region Region::Open(const RegionRef& ref, const RegionLayout& expected,
                    const OpenOptions& options) {
  // A mapping this process already has (its own region, or one inherited
  // over fork()) is reused; it is checked like a fresh one would be.
  if (auto m = internal::Lookup({ref.id[0], ref.id[1]})) {
    Region r(std::move(m));
    if (r.layout_hash() != expected.hash) {
      internal::LayoutMismatch(r.description(), r.type_name(),
                               r.layout_hash(), expected);
    }
    return r;
  }
  Region r;
  switch (ref.kind) {
    case RegionKind::kAnonymous:
      internal::Invalid(
          Cat(ref.DebugString(),
              " is not mapped in this process: anonymous regions reach other "
              "processes only through fork()"));
    case RegionKind::kNamed:
      r = OpenNamed(ref.name_view(), expected, options);
      break;
    case RegionKind::kMemfd:
      r = ref.pid == getpid() ? FromFd(ref.fd, expected, options)
                              : OpenProcFd(ref.pid, ref.fd, expected, options);
      break;
    default:
      internal::Invalid(ref.DebugString());
  }
  const RegionHeader& h = r.header();
  if (h.id[0] != ref.id[0] || h.id[1] != ref.id[1]) {
    internal::Invalid(Cat(r.description(), " is not the region ",
                          ref.DebugString(),
                          " names (it was destroyed and another took its "
                          "place)"));
  }
  if (h.total_size != ref.total_size) {
    internal::Invalid(Cat(r.description(), " has total size ", h.total_size,
                          " but the RegionRef says ", ref.total_size));
  }
  return r;
}

void Region::PublishReady() {
  if (!mapping_ || !mapping_->creator) {
    throw ValueError(
        "PublishReady() called on a region this handle did not "
        "create");
  }
  RegionHeader* h = mapping_->header();
  // seq_cst pairs with the opener's waiter increment (Dekker): either the
  // opener sees "ready" before sleeping, or we see its count and wake it.
  h->init_state.store(internal::kInitReady, std::memory_order_seq_cst);
  if (h->init_waiters.load(std::memory_order_seq_cst) != 0) {
    internal::FutexWake(&h->init_state, INT32_MAX);
  }
}

bool Region::ready() const {
  return mapping_ && mapping_->header()->init_state.load(
                         std::memory_order_acquire) == internal::kInitReady;
}

RegionKind Region::kind() const { return mapping_->kind; }
const std::string& Region::name() const { return mapping_->name; }
int Region::fd() const { return mapping_->fd; }

std::string Region::description() const {
  if (!mapping_) return "empty region handle";
  switch (mapping_->kind) {
    case RegionKind::kNamed:
      return internal::DescribeNamed(mapping_->name);
    case RegionKind::kMemfd:
      return mapping_->name.empty()
                 ? Cat("memfd region (fd ", mapping_->fd, ")")
                 : Cat("memfd region '", mapping_->name, "' (fd ", mapping_->fd,
                       ")");
    case RegionKind::kAnonymous:
      return "anonymous region";
  }
  return "region";
}

std::byte* Region::payload() const {
  return mapping_->base + kRegionHeaderSize;
}
uint64_t Region::payload_size() const {
  return mapping_->total_size - kRegionHeaderSize;
}
uint64_t Region::total_size() const { return mapping_->total_size; }
const RegionHeader& Region::header() const { return *mapping_->header(); }
uint64_t Region::layout_hash() const { return header().layout_hash; }
std::string_view Region::type_name() const {
  return internal::RegionHeaderTypeName(header());
}
pid_t Region::creator_pid() const { return header().creator_pid; }
bool Region::is_creator() const {
  return mapping_ && mapping_->creator && mapping_->creator_pid == getpid();
}

RegionRef Region::ref() const {
  RegionRef r;
  const RegionHeader& h = header();
  r.kind = mapping_->kind;
  r.pid = getpid();
  r.fd = mapping_->fd;
  r.total_size = h.total_size;
  r.layout_hash = h.layout_hash;
  r.id[0] = h.id[0];
  r.id[1] = h.id[1];
  if (mapping_->kind == RegionKind::kNamed) {
    std::memcpy(r.name, mapping_->name.data(),
                std::min(mapping_->name.size(), sizeof(r.name) - 1));
  }
  return r;
}

void Region::Unlink() {
  if (!mapping_ || mapping_->kind != RegionKind::kNamed) return;
  if (!is_creator()) {
    throw ValueError(Cat("only the creator (pid ", creator_pid(), ") unlinks ",
                         description()));
  }
  if (!mapping_->unlinked.exchange(true)) {
    std::string path = Cat("/", mapping_->name);
    if (shm_unlink(path.c_str()) != 0 && errno != ENOENT) {
      ThrowSystemError("shm_unlink " + mapping_->name, errno);
    }
  }
}

void Region::SetPayloadDestructor(void (*fn)(void* payload)) {
  if (!is_creator()) {
    throw ValueError(
        "SetPayloadDestructor() on a region this process did "
        "not create");
  }
  mapping_->destroy_payload = fn;
}

void Region::CheckRange(uint64_t offset, uint64_t count, uint64_t elem_size,
                        uint64_t align) const {
  const uint64_t size = payload_size();
  bool ok = true;
  uint64_t bytes = 0;
  if (elem_size != 0 && count > size / elem_size) {
    ok = false;
  } else {
    bytes = count * elem_size;
    ok = offset <= size - bytes;
  }
  if (!ok) {
    internal::Invalid(Cat(description(), ": offset ", offset, " + ", count,
                          " x ", elem_size, " bytes is outside its payload of ",
                          size, " bytes"));
  }
  uintptr_t addr = reinterpret_cast<uintptr_t>(payload()) + offset;
  if (align > 1 && addr % align != 0) {
    internal::Invalid(Cat(description(), ": offset ", offset,
                          " is not aligned to ", align, " bytes"));
  }
}

namespace internal {

void ReserveBacking(const void* addr, uint64_t len, std::string_view what) {
  if (len == 0) return;
  std::shared_ptr<RegionMapping> m = LookupAddress(addr, len);
  // Not a region's memory (a structure built on a plain anonymous mapping,
  // as tests do), or an anonymous region: no file to allocate in.
  if (m == nullptr || m->fd < 0) return;
  const uint64_t offset = static_cast<uint64_t>(
      static_cast<const std::byte*>(addr) - m->base);
  const std::string desc =
      m->kind == RegionKind::kNamed
          ? Cat(what, " in ", DescribeNamed(m->name))
          : Cat(what, " in memfd region '", m->name, "'");
  ReserveFile(m->fd, m->kind, offset, len, desc);
}

}  // namespace internal

namespace {

void SetLiveness(RegionInfo* info, const internal::ProcessIdentity& who) {
  const internal::Liveness l = internal::CheckLiveness(who);
  info->creator_pid = who.pid;
  info->alive = l != internal::Liveness::kDead;
  info->creator_unseen = l == internal::Liveness::kUnknown;
}

RegionInfo Inspect(int dfd, const char* entry) {
  RegionInfo info;
  info.name = entry;
  internal::ProcessIdentity builder;
  const bool named_like_half_made =
      std::string_view(info.name).substr(0, internal::kHalfMadePrefix.size()) ==
      internal::kHalfMadePrefix;
  info.half_made =
      named_like_half_made && internal::ParseHalfMadeName(info.name, &builder);
  if (named_like_half_made && !info.half_made) {
    info.problem = "named like a region being created, but not by shoal";
    return info;
  }
  int fd = openat(dfd, entry, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    info.problem = Cat("cannot open: ", std::strerror(errno));
    return info;
  }
  internal::FdCloser closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    info.problem = "not a regular file";
    return info;
  }
  info.uid = st.st_uid;
  info.size = static_cast<uint64_t>(st.st_size);
  if (info.half_made) {
    // Its name says who was making it; the header may not be written yet.
    SetLiveness(&info, builder);
    info.problem = info.alive ? "being created" : "left half-made by a dead creator";
    info.stale = !info.alive && info.uid == geteuid();
    return info;
  }
  RegionHeader h;
  ssize_t r = info.size >= kRegionHeaderSize ? pread(fd, &h, sizeof(h), 0) : 0;
  if (r != static_cast<ssize_t>(sizeof(h))) {
    info.problem = Cat(info.size, " bytes, shorter than the header");
    return info;
  }
  info.problem = internal::CheckHeader(h, info.size);
  if (info.problem.empty()) {
    info.valid = true;
    info.type_name = std::string(internal::RegionHeaderTypeName(h));
    internal::ProcessIdentity creator;
    creator.pid = h.creator_pid;
    creator.start_time = h.creator_start_time;
    creator.pid_ns = h.creator_pid_ns;
    SetLiveness(&info, creator);
    info.ready =
        h.init_state.load(std::memory_order_relaxed) == internal::kInitReady;
    info.stale = !info.alive && info.uid == geteuid();
  }
  return info;
}

}  // namespace

std::vector<RegionInfo> ListRegions() {
  std::vector<RegionInfo> out;
  DIR* dir = opendir(internal::kShmDir);
  if (dir == nullptr) ThrowSystemError("opendir /dev/shm", errno);
  const int dfd = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    std::string_view n = e->d_name;
    if (n.substr(0, internal::kPrefix.size()) != internal::kPrefix) continue;
    out.push_back(Inspect(dfd, e->d_name));
  }
  closedir(dir);
  std::sort(
      out.begin(), out.end(),
      [](const RegionInfo& a, const RegionInfo& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> SweepStale(std::string_view type_prefix) {
  std::vector<std::string> removed;
  for (const RegionInfo& info : ListRegions()) {
    if (!info.stale) continue;
    if (info.half_made) {
      // Whatever type it was to hold, nobody can ever open it: its name is
      // its creator's alone, and the creator is dead.
      if (shm_unlink(Cat("/", info.name).c_str()) == 0) {
        removed.push_back(info.name);
      }
      continue;
    }
    if (!type_prefix.empty() &&
        info.type_name.compare(0, type_prefix.size(), type_prefix) != 0) {
      continue;
    }
    if (internal::UnlinkIfStale(info.name)) removed.push_back(info.name);
  }
  return removed;
}

}  // namespace shoal
