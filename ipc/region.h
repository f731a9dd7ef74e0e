// Copyright 2026 The shoal Authors.
//
// region.h: shared-memory regions, the ground every shoal structure stands on.
//
// Contract
//   A Region is a mapping of shared memory that begins with a 256-byte header
//   (ipc/internal/region_header.h) followed by the payload, where a structure
//   (a queue, a lock, a Shared<T>) lives. Three kinds:
//
//     kind        backing                         reaches another process by
//     ----------  ------------------------------  ----------------------------
//     kAnonymous  mmap(MAP_SHARED|MAP_ANONYMOUS)  fork() only (inherited)
//     kMemfd      memfd_create (the default;      fork(); passing the fd;
//                 mode 0600, sealed against       /proc/<pid>/fd/<n> (same uid)
//                 resizing)
//     kNamed      shm_open("/shoal.<name>")       its name, while the creator
//                                                 keeps it
//
//   Creating: `Region::Create` maps a zeroed payload of the requested size
//   and writes the header with init state "constructing". A named region is
//   built under a name of its own ("shoal.~new.<pid>.<start time>.<pid
//   namespace>.<random>") and linked under its real name (rename with
//   RENAME_NOREPLACE, so O_EXCL semantics hold) only once its memory is
//   reserved and its header complete: nobody ever sees a half-made region
//   under a real name, and a creator killed half-way blocks no name and
//   leaves a file the sweep can tell is shoal's and dead. The creator builds
//   its structure in the payload, then calls `PublishReady()` (a release
//   store). Openers validate the header and wait, bounded by
//   `OpenOptions::init_timeout`, until the state is "ready", so they
//   never see a half-built structure.
//
//   Attaching validates ALL of it, in this order, and throws
//   shoal::InvalidRegion with a message naming the region and the problem:
//   the file (a regular file, owned by our uid, not world-writable); its
//   size (shorter than the header); magic ("not a shoal region"); version;
//   header size; checksum; total size (absurd, or larger than the file);
//   layout hash ("region 'x' holds shoal::Queue<int> but was opened as
//   shoal::Queue<std::string>"; for the same type in another shared layout,
//   e.g. from a shoal build whose queue layout version differs, "holds
//   shoal::Queue<int> in a different shared layout than this program's
//   shoal::Queue<int>"); init state (the creator died or failed
//   while constructing, or did not finish within the timeout).
//   Structures then reach their data only through `at<T>(offset, count)`,
//   which checks bounds and alignment, so an offset read from shared memory
//   can never send a reader outside the mapping.
//
//   Named regions: created with O_CREAT|O_EXCL and mode 0600 (any mode that
//   is not world-writable may be asked for); names are
//   "shoal." + [A-Za-z0-9._-]{1,100}; a region created without a name gets
//   128 random bits (getrandom) as hex, so nobody can guess it. The creator
//   unlinks the name when its last handle goes (never a forked child: the
//   unlink checks getpid() against the creator's pid). A region owned by
//   another uid, or world-writable, is refused. Whatever else sits under a
//   name (a FIFO, a device, a directory, a socket, a symbolic link) is
//   refused with an error that says what it is: names are opened with
//   O_NONBLOCK and O_NOFOLLOW and checked with fstat, so nothing blocks and
//   no link is followed. `ListRegions()` and `SweepStale()` find and remove
//   what creators that died without cleaning up (SIGKILL, OOM) left, so
//   nobody ever needs `rm /dev/shm/...`; a creator is identified by pid,
//   start time and pid namespace, and nothing is removed unless its creator
//   is proven dead (a live container's regions stay, seen from the host).
//
// Handles
//   Region is a cheap, copyable handle: copies share one process-local
//   mapping object (std::shared_ptr) that munmaps when the last copy goes.
//   After fork() the child's copies stay valid (the mapping is inherited).
//   Within one process, opening the same region again (Open(ref)) returns the
//   existing mapping rather than mapping it twice.
//
// Thread safety: a Region handle is like std::shared_ptr: distinct handles may
//   be used from distinct threads; the payload bytes are the structure's
//   business.
// Process death: a mapping is the kernel's; nothing in the header is
//   modified after creation except the init state, so a process killed at any
//   point never leaves a header half-written for others. A creator killed
//   before PublishReady() makes openers fail fast ("creator pid N died before
//   the region was ready"). A named region whose creator was killed stays in
//   /dev/shm until SweepStale() removes it, or until a Create() of the same
//   name sweeps it.
// Cost: Create and the Open calls are a handful of system calls (open,
//   fstat, pread, mmap; memfd_create/ftruncate/fallocate/fcntl to create)
//   plus a read of /proc/<pid>/stat; at<T>() is two compares. None of it is for hot
//   paths: structures keep their pointers.
// Full memory: Create allocates the region's memory up front (see Create),
//   so a full /dev/shm or memory cgroup is an exception there, never SIGBUS
//   at a later first touch; a heap inside a region reserves as it grows.
// Not protected against: a peer with the same uid that ftruncate()s a named
//   region smaller while it is mapped, or punches holes in it while /dev/shm
//   is full (accessing the lost pages raises SIGBUS). memfd regions are
//   sealed against shrinking, so the first cannot happen to them.
#ifndef SHOAL_IPC_REGION_H_
#define SHOAL_IPC_REGION_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/ipc/internal/region_header.h"
#include "shoal/ipc/layout.h"

namespace shoal {

enum class RegionKind : uint32_t {
  kAnonymous = 1,
  kMemfd = 2,
  kNamed = 3,
};

// "anonymous", "memfd", "named" (or "invalid").
std::string_view RegionKindName(RegionKind kind);

// Longest accepted name, "shoal." prefix included.
inline constexpr size_t kMaxRegionNameLength = 106;
// Largest accepted total size (header + payload): 1 TiB. Anything larger in a
// header is taken as garbage.
inline constexpr uint64_t kMaxRegionSize = uint64_t{1} << 40;

struct RegionOptions {
  RegionKind kind = RegionKind::kMemfd;
  // kNamed: the name, with or without the "shoal." prefix (it is added when
  // missing); empty means a random, unguessable one. kMemfd: a label shown in
  // /proc/<pid>/fd (need not be unique). kAnonymous: ignored.
  std::string name;
  // kNamed only. Must not include S_IWOTH; set with fchmod, so the umask does
  // not narrow it.
  mode_t mode = 0600;
};

struct OpenOptions {
  // How long an opener waits for a region whose creator is still
  // constructing the structure in it (init state "constructing").
  std::chrono::milliseconds init_timeout{2000};
};

// How another process finds a region: small, trivially copyable (so the codec
// sends it with one memcpy) and meaningful only on this machine.
//   kNamed:     `name` ("shoal.xyz").
//   kMemfd:     `pid` and `fd`: a process that holds the memfd open; the
//               opener goes through /proc/<pid>/fd/<fd>, so that process must
//               still be alive and run under the same uid.
//   kAnonymous: only a process that has the mapping (the creator and its
//               fork()ed descendants) can open it.
// In every case `id` names the exact region: a ref to a region that was
// destroyed and recreated under the same name is refused.
struct RegionRef {
  RegionKind kind = RegionKind::kAnonymous;
  int32_t pid = 0;
  int32_t fd = -1;
  uint32_t reserved = 0;
  uint64_t total_size = 0;
  uint64_t layout_hash = 0;
  uint64_t id[2] = {0, 0};
  char name[112] = {};  // NUL-terminated

  std::string_view name_view() const;
  // "named region 'shoal.x'", "memfd region (pid 12 fd 5)", ...
  std::string DebugString() const;
};
static_assert(std::is_trivially_copyable_v<RegionRef>);
static_assert(kMaxRegionNameLength < sizeof(RegionRef::name));
static_assert(sizeof(RegionRef) == 160, "RegionRef must have no padding");

namespace internal {
class RegionMapping;
}  // namespace internal

class Region {
 public:
  // An empty handle (operator bool is false).
  Region() = default;

  // Creates a region with `payload_size` zeroed payload bytes for a structure
  // of `layout`. The region is not ready until PublishReady().
  //
  // The shared memory is allocated here (posix_fallocate on the memfd or
  // /dev/shm file), so that a full /dev/shm, or a memory cgroup at its
  // limit, is an error now rather than SIGBUS (or an OOM kill) at the first
  // touch of a page later. `reserve_payload` limits that to the first bytes
  // of the payload, for a structure whose tail is a heap that reserves its
  // blocks as it grows (internal::ReserveBacking); by default all of it.
  // Anonymous regions have no file: the kernel charges them at mmap.
  //
  // Throws: ValueError (bad name, mode, size), SystemError: EEXIST for a
  // named region that exists (O_EXCL refusal); ENOSPC (or ENOMEM) when the
  // memory is not there, saying how much was needed and how much is free;
  // EFBIG when the file would exceed RLIMIT_FSIZE (which would otherwise
  // kill the process with SIGXFSZ). A named region left behind by a dead
  // creator does not count as existing: it is swept (as by SweepStale) and
  // the create retried once. Nothing is left in /dev/shm when it throws.
  // Cost: a few system calls, plus allocating the reserved pages (about
  // 0.25 ms per MiB on tmpfs; they are then not faulted again).
  static constexpr uint64_t kReserveAll = ~uint64_t{0};
  static Region Create(uint64_t payload_size, const RegionLayout& layout,
                       const RegionOptions& options = {},
                       uint64_t reserve_payload = kReserveAll);

  // Opens the named region `name` ("x" or "shoal.x").
  static Region OpenNamed(std::string_view name, const RegionLayout& expected,
                          const OpenOptions& options = {});
  // Maps the memfd (or shm) file `fd`. The fd is dup()ed: the caller keeps
  // ownership of `fd`.
  static Region FromFd(int fd, const RegionLayout& expected,
                       const OpenOptions& options = {});
  // Opens /proc/<pid>/fd/<fd> (a memfd another process of the same uid holds).
  static Region OpenProcFd(pid_t pid, int fd, const RegionLayout& expected,
                           const OpenOptions& options = {});
  // Opens what `ref` names. A mapping this process already has (its own, or
  // inherited over fork()) is reused without a system call; otherwise it
  // opens by name (kNamed) or fd (kMemfd: FromFd in the process that holds
  // it, else OpenProcFd). Validates like the others, and also that the
  // region's id and size are the ref's (a ref to a region that was destroyed
  // and re-created under the same name is refused).
  static Region Open(const RegionRef& ref, const RegionLayout& expected,
                     const OpenOptions& options = {});

  // Creator only: the payload is constructed. Release ordering: an opener
  // that sees "ready" sees every payload write made before this call.
  void PublishReady();
  bool ready() const;

  explicit operator bool() const { return mapping_ != nullptr; }
  RegionKind kind() const;
  // Named: "shoal.xyz"; memfd: its label; anonymous: "".
  const std::string& name() const;
  // Human-readable, for messages: "named region 'shoal.x'".
  std::string description() const;
  // The memfd or shm file descriptor (CLOEXEC); -1 for anonymous regions.
  int fd() const;

  std::byte* payload() const;
  uint64_t payload_size() const;
  uint64_t total_size() const;
  const internal::RegionHeader& header() const;
  uint64_t layout_hash() const;
  std::string_view type_name() const;
  pid_t creator_pid() const;
  // True in the process that created the region (not in forked children).
  bool is_creator() const;
  long use_count() const { return mapping_.use_count(); }

  // A bounds- and alignment-checked pointer to `count` Ts at payload offset
  // `offset`. Throws InvalidRegion when [offset, offset + count*sizeof(T))
  // is not inside the payload or the address is misaligned for T. Use it for
  // every offset read from shared memory.
  template <class T>
  T* at(uint64_t offset, size_t count = 1) const {
    CheckRange(offset, count, sizeof(T), alignof(T));
    return reinterpret_cast<T*>(payload() + offset);
  }

  RegionRef ref() const;

  // Named, creator only: removes the name now (idempotent). Existing mappings
  // stay valid; new opens by name fail.
  void Unlink();

  // Creator only: `fn(payload)` runs exactly once, in the creator process,
  // when the creator's last handle goes (Shared<T> runs ~T this way).
  void SetPayloadDestructor(void (*fn)(void* payload));

  // Throws InvalidRegion when the range is outside the payload or misaligned.
  void CheckRange(uint64_t offset, uint64_t count, uint64_t elem_size,
                  uint64_t align) const;

 private:
  explicit Region(std::shared_ptr<internal::RegionMapping> m)
      : mapping_(std::move(m)) {}
  std::shared_ptr<internal::RegionMapping> mapping_;
};

// One /dev/shm/shoal.* file, as ListRegions sees it.
struct RegionInfo {
  std::string name;       // "shoal.xyz"
  pid_t creator_pid = 0;  // in the creator's pid namespace; 0 when unknown
  // The creator is not proven gone: it runs (same pid AND same start time),
  // or it is in a pid namespace this process cannot see (creator_unseen).
  bool alive = false;
  bool creator_unseen = false;
  // "shoal.~new.*": a region its creator was still building (see
  // Region::Create); never opened by name. Its name says who builds it.
  bool half_made = false;
  // SweepStale() would remove it: ours (our uid), and its creator is proven
  // gone (a valid region, or a half-made one).
  bool stale = false;
  uint64_t size = 0;      // file size, bytes
  std::string type_name;  // from the header
  bool valid = false;     // the header validated
  bool ready = false;     // init state is "ready"
  uid_t uid = 0;          // file owner
  std::string problem;    // why !valid (or what a half-made file is)
};

// Every /dev/shm/shoal.* file. Cost: one open+fstat+pread per file, plus a
// read of /proc/<pid>/stat per distinct creator (and a walk of /proc for a
// creator in another pid namespace).
std::vector<RegionInfo> ListRegions();

// Unlinks what shoal processes that died left in /dev/shm (RegionInfo::
// stale): every region of this uid whose header is valid and whose creator
// is proven gone (no such pid, a zombie, the pid now belongs to a process
// with another start time, or seen from the initial pid namespace its pid
// namespace has no task left), and every half-made file whose creator is
// proven gone. Never what it cannot prove dead: a creator in a pid
// namespace out of sight (a live container) keeps its regions. Files that
// are not shoal's (no valid header, not named as half-made) are left alone.
// Mappings other processes hold stay valid. Returns the names removed.
// With `type_prefix`, only regions whose type name starts with it (e.g.
// "shoal::Queue<"): what a queue or pool sweeps when it starts (half-made
// files, which have no type yet, are swept whatever the prefix).
std::vector<std::string> SweepStale(std::string_view type_prefix = {});

namespace internal {
// Exposed for tests and tools.
// Validates a region name and returns it with the "shoal." prefix.
std::string NormalizeRegionName(std::string_view name);
// 128 random bits from getrandom(), as 32 hex digits.
std::string RandomHex128();
// True when `pid` runs, is not a zombie, and (when start_time != 0) started
// at `start_time` (/proc/<pid>/stat field 22).
bool ProcessAlive(pid_t pid, uint64_t start_time);
// Allocates the shared memory behind [addr, addr + len), in the region this
// process has mapped there: how a heap inside a region reserves its blocks
// as it grows (see Region::Create). Throws SystemError (ENOSPC, ENOMEM)
// naming `what`, how much was needed and how much is free. A no-op for
// anonymous regions and for memory that is not a region's (nothing to
// allocate in). Cost: a registry lookup and one fallocate(2).
void ReserveBacking(const void* addr, uint64_t len, std::string_view what);
}  // namespace internal

}  // namespace shoal

#endif  // SHOAL_IPC_REGION_H_
