#include "shoal/base/internal/code_ref.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/base/internal/fnv.h"

namespace shoal::internal {
namespace {

struct Segment {
  uintptr_t begin;
  uintptr_t end;
  uint32_t flags;  // PF_R | PF_W | PF_X
};

struct Module {
  uint64_t check = 0;
  uintptr_t bias = 0;
  uintptr_t lo = ~uintptr_t{0};
  uintptr_t hi = 0;
  std::string name;
  std::string build_id;  // hex
  std::vector<Segment> segments;
};

// An immutable snapshot. Published with a release store, never freed (a
// process loads a handful of modules; a rebuild after dlopen leaks the old
// table of a few hundred bytes), so readers need no lock: a forked child may
// use it even if another thread of the parent was rebuilding at fork time.
struct Table {
  std::vector<Module> modules;
  const Table* previous = nullptr;  // keeps old tables reachable (readers)
};

std::atomic<const Table*> g_table{nullptr};
// Serializes rebuilds only. Re-initialized in fork()ed children (the thread
// that held it does not exist there).
alignas(std::mutex) unsigned char g_rebuild_mu_storage[sizeof(std::mutex)];
std::mutex* g_rebuild_mu = nullptr;
std::once_flag g_init_once;

void ResetMutexInChild() { g_rebuild_mu = new (g_rebuild_mu_storage) std::mutex; }

void InitOnce() {
  std::call_once(g_init_once, [] {
    g_rebuild_mu = new (g_rebuild_mu_storage) std::mutex;
    pthread_atfork(nullptr, nullptr, &ResetMutexInChild);
  });
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Reads the ELF program headers of a module loaded at `bias` whose first
// mapping (holding the ELF header) starts at `start`, into *m.
bool ReadModule(uintptr_t start, const std::string& path, Module* m) {
  ElfW(Ehdr) eh;
  std::memcpy(&eh, reinterpret_cast<const void*>(start), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 ||
      eh.e_phoff > 65536) {
    return false;
  }
  const auto* ph = reinterpret_cast<const ElfW(Phdr)*>(start + eh.e_phoff);
  // The first PT_LOAD maps file offset 0 at `start`: bias = start - its
  // page-aligned vaddr (0 for PIE and shared objects).
  uintptr_t first_vaddr = ~uintptr_t{0};
  for (int i = 0; i < eh.e_phnum; ++i) {
    if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
      first_vaddr = ph[i].p_vaddr & ~(uintptr_t{4095});
      break;
    }
  }
  if (first_vaddr == ~uintptr_t{0}) return false;
  m->bias = start - first_vaddr;
  m->name = path;
  uint64_t load_size = 0;
  for (int i = 0; i < eh.e_phnum; ++i) {
    const ElfW(Phdr)& p = ph[i];
    if (p.p_type == PT_LOAD) {
      Segment s{m->bias + p.p_vaddr, m->bias + p.p_vaddr + p.p_memsz,
                p.p_flags};
      m->lo = std::min(m->lo, s.begin);
      m->hi = std::max(m->hi, s.end);
      m->segments.push_back(s);
      load_size += p.p_memsz;
    } else if (p.p_type == PT_NOTE && m->build_id.empty()) {
      const auto* q = reinterpret_cast<const unsigned char*>(m->bias + p.p_vaddr);
      const unsigned char* end = q + p.p_memsz;
      while (q + sizeof(ElfW(Nhdr)) <= end) {
        ElfW(Nhdr) nh;
        std::memcpy(&nh, q, sizeof(nh));
        const unsigned char* name = q + sizeof(nh);
        const unsigned char* desc = name + ((nh.n_namesz + 3) & ~3u);
        const unsigned char* next = desc + ((nh.n_descsz + 3) & ~3u);
        if (next > end) break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            std::memcmp(name, "GNU", 4) == 0) {
          static const char kHex[] = "0123456789abcdef";
          for (uint32_t k = 0; k < nh.n_descsz; ++k) {
            m->build_id.push_back(kHex[desc[k] >> 4]);
            m->build_id.push_back(kHex[desc[k] & 15]);
          }
          break;
        }
        q = next;
      }
    }
  }
  if (m->segments.empty()) return false;
  if (!m->build_id.empty()) {
    m->check = Fnv1a64(m->build_id, Fnv1a64("build-id:"));
  } else {
    m->check =
        Fnv1a64(load_size, Fnv1a64(Basename(m->name), Fnv1a64("file:")));
  }
  return true;
}

// The modules of this process, from /proc/self/maps: every file mapping at
// offset 0 that holds an ELF header.
//
// Why not dl_iterate_phdr: it takes the dynamic loader's lock, and a child
// fork()ed while another thread of the parent held that lock (inside
// dl_iterate_phdr, dlopen, ...) would wait for it forever. Pool workers are
// such children. Reading /proc/self/maps takes no lock of this process.
//
// Returns false with *error set (an errno) when /proc/self/maps cannot be
// read (no descriptor left under RLIMIT_NOFILE, no /proc mounted, ...): the
// caller must say so, not that the address is in no module.
bool ReadProcMaps(std::string* text, int* error) {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno;
    return false;
  }
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = errno;
      close(fd);
      return false;
    }
    if (n == 0) break;
    text->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

bool ScanModules(std::vector<Module>* out_modules, int* error) {
  std::vector<Module>& out = *out_modules;
  std::string text;
  if (!ReadProcMaps(&text, error)) return false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    // start-end perms offset dev inode path
    unsigned long long start = 0, end = 0, offset = 0, inode = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %llu %n", &start, &end,
                    perms, &offset, &inode, &path_at) < 5) {
      continue;
    }
    if (offset != 0 || inode == 0 || perms[0] != 'r' || path_at <= 0 ||
        static_cast<size_t>(path_at) >= line.size() || line[path_at] != '/') {
      continue;
    }
    if (end - start < sizeof(ElfW(Ehdr))) continue;
    std::string path = line.substr(static_cast<size_t>(path_at));
    Module m;
    if (!ReadModule(static_cast<uintptr_t>(start), path, &m)) continue;
    bool dup = false;
    for (const Module& o : out) dup |= o.bias == m.bias && o.check == m.check;
    if (!dup) out.push_back(std::move(m));
  }
  return true;
}

// A fresh table. Throws SystemError (the table in place stays) when
// /proc/self/maps cannot be read; `why` says what the lookup was for.
const Table* Rebuild(const std::string& why) {
  InitOnce();
  std::lock_guard<std::mutex> lock(*g_rebuild_mu);
  std::vector<Module> modules;
  int error = 0;
  if (!ScanModules(&modules, &error)) {
    ThrowSystemError("cannot read /proc/self/maps to " + why, error);
  }
  auto* t = new Table;
  t->modules = std::move(modules);
  t->previous = g_table.load(std::memory_order_relaxed);
  g_table.store(t, std::memory_order_release);
  return t;
}

const Table* Current(const std::string& why) {
  const Table* t = g_table.load(std::memory_order_acquire);
  return t != nullptr ? t : Rebuild(why);
}

std::string AddressText(const void* address) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%p", address);
  return buf;
}

const Module* FindByAddress(const Table* t, uintptr_t a) {
  for (const Module& m : t->modules) {
    if (a < m.lo || a >= m.hi) continue;
    for (const Segment& s : m.segments) {
      if (a >= s.begin && a < s.end) return &m;
    }
  }
  return nullptr;
}

const Module* FindByCheck(const Table* t, uint64_t check) {
  for (const Module& m : t->modules) {
    if (m.check == check) return &m;
  }
  return nullptr;
}

}  // namespace

CodeRef RefOf(const void* address) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(address);
  const std::string why =
      "find the module that holds address " + AddressText(address);
  const Module* m = FindByAddress(Current(why), a);
  if (m == nullptr) m = FindByAddress(Rebuild(why), a);
  if (m == nullptr) {
    throw SerializationError(
        "cannot send a reference to address " + AddressText(address) +
        ": it is not inside any loaded module (only functions and constants "
        "of the program or its shared libraries can travel to a worker)");
  }
  return CodeRef{m->check, a - m->bias};
}

const void* Resolve(const CodeRef& ref, CodeKind kind, std::size_t size) {
  const std::string why = "find the module of a function sent by another "
                          "process";
  const Module* m = FindByCheck(Current(why), ref.module);
  if (m == nullptr) m = FindByCheck(Rebuild(why), ref.module);
  if (m == nullptr) {
    throw CodecError(
        "cannot resolve a function sent by another process: its module "
        "(check " + std::to_string(ref.module) +
        ") is not loaded in this process (workers must run the same binary "
        "and load the same shared libraries)");
  }
  const uintptr_t a = m->bias + ref.offset;
  const uint32_t need = kind == CodeKind::kCode ? PF_X : PF_R;
  for (const Segment& s : m->segments) {
    if ((s.flags & need) == 0) continue;
    if (a >= s.begin && a < s.end && size <= s.end - a) {
      return reinterpret_cast<const void*>(a);
    }
  }
  throw CodecError("cannot resolve a function sent by another process: offset " +
                   std::to_string(ref.offset) + " is outside the " +
                   (kind == CodeKind::kCode ? "code" : "data") +
                   " segments of " + m->name + " (garbage or another build)");
}

bool IsCodeAddress(const void* address) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(address);
  const std::string why = "tell whether address " + AddressText(address) +
                          " is code";
  for (int pass = 0; pass < 2; ++pass) {
    const Table* t = pass == 0 ? Current(why) : Rebuild(why);
    if (const Module* m = FindByAddress(t, a)) {
      for (const Segment& s : m->segments) {
        if ((s.flags & PF_X) != 0 && a >= s.begin && a < s.end) return true;
      }
      return false;
    }
  }
  return false;
}

bool InSameMapping(const void* a, const void* b) {
  std::string text;
  int error = 0;
  if (!ReadProcMaps(&text, &error)) {
    ThrowSystemError("cannot read /proc/self/maps to tell whether two "
                     "objects share a mapping",
                     error);
  }
  const uintptr_t x = reinterpret_cast<uintptr_t>(a);
  const uintptr_t y = reinterpret_cast<uintptr_t>(b);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    unsigned long long start = 0, end = 0;
    if (std::sscanf(text.c_str() + pos, "%llx-%llx", &start, &end) == 2 &&
        x >= start && x < end) {
      return y >= start && y < end;
    }
    pos = eol + 1;
  }
  return false;
}

std::string DescribeModule(uint64_t check) {
  const Table* t = g_table.load(std::memory_order_acquire);
  if (t == nullptr) return "unknown module";
  const Module* m = FindByCheck(t, check);
  if (m == nullptr) return "unknown module";
  return "module " + m->name +
         (m->build_id.empty() ? "" : " (build-id " + m->build_id + ")");
}

}  // namespace shoal::internal
