// Copyright 2026 The shoal Authors.
//
// latest.h: Latest<T>, one value in shared memory that writers replace and
// readers read without ever waiting for a writer: "latest value wins".
//
//   shoal::Latest<Pose> pose(Pose{});              // in shared memory
//   // writer process (any number of them):
//   pose.publish(Pose{x, y, heading});             // version 1, 2, ...
//   // reader processes:
//   Pose p = pose.read();                          // the newest whole value
//   auto [q, version] = pose.read_versioned();     // with its version
//   pose.wait_newer(version, std::chrono::seconds(1));   // block until a new one
//
// Contract
//   A Latest<T> holds one trivially copyable T (1 byte to 1 MiB). publish()
//   makes a new value visible at once to every process that holds the
//   handle; read() returns the newest value, always a whole one that some
//   publish() wrote (never a mix of two), together with its version when
//   asked (version 0 is the initial value; each publish adds one). Values
//   are not queued: a reader that reads less often than writers publish
//   skips values, by design (use a Queue or Channel when every item
//   matters). update(fn) is a read-modify-write under the writer lock
//   (fn gets the current value and changes it in place).
//
//   Python has no direct equivalent; the nearest is a Value('d', lock=...)
//   read under its lock, which makes readers and writers wait for each
//   other. Here readers never take a lock.
//
// Algorithm (ipc/internal/latest_cell.h): a double buffer with a seqlock per
// buffer, and a robust lock between writers. A writer writes the buffer
// readers are not directed to, then publishes it with one store of the
// version. Readers copy and check; they retry only when two publications
// overtook their copy.
//
// Why hand-written: no well-kept library offers a seqlock that lives in
// shared memory and survives a writer killed mid-write (Boost.Interprocess
// has none; its mutexes are not robust); the writers' lock is shoal's
// robust Lock.
//
// Process death: a writer killed at ANY instruction (SIGKILL mid-copy,
// mid-publication, holding the lock) never gives a reader a torn value:
// readers see the previous value until the next publish. The next writer
// takes over the lock (robust mutex; nothing to repair) and
// writer_deaths() counts such deaths. A reader's death costs nothing.
// A writer that is stopped (SIGSTOP) while holding the lock makes other
// writers wait: use the timed publish.
//
// Corruption: a hostile or buggy peer that scribbles over the shared value
// makes read() throw InvalidRegion (a published buffer that does not hold
// the published version) or, while the scribbling goes on, retry until the
// deadline of the timed forms (TimeoutError); never a crash or a hang on a
// static corruption. Garbage bytes inside the value itself cannot be told
// from data.
//
// Performance (bench/latest_bench.cc, bench/RESULTS.md "## latest"):
// read() is the value's copy plus three loads: ~1 ns of CPU for 8 bytes and
// ~3.5 ns for 64 (2-4x a plain atomic load or memcpy of the same size in
// the same run; 11x cheaper than Value<T>::load(), which locks), and the
// same while a writer publishes back to back. Readers write nothing shared,
// so reads scale with readers. publish() is an uncontended robust lock, the
// copy and a few stores (~20 ns of CPU for 64 bytes). Large values cost a
// copy per read: a seqlock suits small, hot state; a reader whose copy
// takes longer than two publications retries.
//
// Threads and processes: any number of threads and processes may read and
// publish at once through copies of the handle.
#ifndef SHOAL_IPC_LATEST_H_
#define SHOAL_IPC_LATEST_H_

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/internal/latest_cell.h"
#include "shoal/ipc/internal/ref_codec.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/region.h"

namespace shoal {

// A value and the version that published it.
template <class T>
struct Versioned {
  T value;
  uint64_t version;
};

namespace internal {

struct NoPublishHook {
  void operator()() const {}
};

// The reading and writing calls of Latest<T> and Blackboard::Entry<T>: a
// typed view of one LatestCell. `Hook` runs after each publication
// (Blackboard counts its generation there).
template <class T, class Hook = NoPublishHook>
class LatestHandle {
  static_assert(std::is_trivially_copyable_v<T>,
                "Latest<T> / Blackboard values: T must be trivially copyable "
                "(it is copied in and out of shared memory as bytes)");
  static_assert(sizeof(T) <= kMaxLatestValueSize,
                "Latest<T> / Blackboard values: T is larger than 1 MiB");

 public:
  using value_type = T;

  // The newest value. Never waits for a writer. Throws InvalidRegion when
  // the shared memory is corrupt; with a deadline, TimeoutError when writers
  // (or a scribbling peer) keep overtaking the copy until then.
  T read(const Deadline& deadline = Deadline()) const {
    if constexpr (std::is_default_constructible_v<T>) {
      T out;  // the return slot itself (no second copy)
      cell_.template Read<sizeof(T)>(&out, deadline);
      return out;
    } else {
      Raw raw;
      cell_.template Read<sizeof(T)>(raw.data(), deadline);
      return std::bit_cast<T>(raw);
    }
  }
  Versioned<T> read_versioned(const Deadline& deadline = Deadline()) const {
    Raw raw;
    const uint64_t v = cell_.template Read<sizeof(T)>(raw.data(), deadline);
    return Versioned<T>{std::bit_cast<T>(raw), v};
  }
  // The newest value if its version is not `seen`, else nothing: cheap
  // polling (one load when nothing changed).
  std::optional<Versioned<T>> read_if_newer(uint64_t seen) const {
    if (cell_.version() == seen) return std::nullopt;
    return read_versioned();
  }

  // Makes `value` the newest; returns its version. Waits only for other
  // writers (TimeoutError at the deadline).
  uint64_t publish(const T& value, const Deadline& deadline = Deadline()) {
    const uint64_t v = cell_.Publish(&value, deadline);
    hook_();
    return v;
  }
  // Read-modify-write: fn(T&) changes the current value, which is then
  // published; no other writer runs in between. Returns the new version.
  template <class Fn>
  uint64_t update(Fn&& fn, const Deadline& deadline = Deadline()) {
    alignas(T) Raw scratch;
    const uint64_t v = cell_.Update(
        scratch.data(), [&](void* p) { fn(*static_cast<T*>(p)); }, deadline);
    hook_();
    return v;
  }

  // Publications so far (0: only the initial value). One load.
  uint64_t version() const { return cell_.version(); }
  // Blocks until version() != seen (true) or the deadline (false). A
  // futex sleep; writers wake sleepers only when there are any.
  bool wait_newer(uint64_t seen, const Deadline& deadline = Deadline()) const {
    return cell_.WaitNewer(seen, deadline) != seen;
  }
  // Writers that died holding the writer lock (their publication either
  // happened or did not; nothing was torn).
  uint64_t writer_deaths() const { return cell_.writer_deaths(); }

 protected:
  using Raw = std::array<unsigned char, sizeof(T)>;
  LatestCell cell_;
  Hook hook_;
};

}  // namespace internal

// See the file comment; the calls are those of internal::LatestHandle above
// (read, read_versioned, read_if_newer, publish, update, version,
// wait_newer, writer_deaths).
template <class T>
class Latest : public internal::LatestHandle<T> {
 public:
  // A new Latest holding `initial` as version 0, in a region of its own
  // (memfd by default; RegionOptions for a named or anonymous one).
  explicit Latest(const T& initial = T{}, const RegionOptions& region = {}) {
    Region r = Region::Create(internal::LatestCellBytes(sizeof(T)), Layout(),
                              region);
    internal::LatestCell::Construct(r.payload(), sizeof(T), &initial);
    r.PublishReady();
    Attach(std::move(r));
  }

  // Opens a named Latest<T> another process created (region.kind = kNamed).
  // Throws InvalidRegion if it is not a Latest<T>.
  static Latest Open(std::string_view name, const OpenOptions& options = {}) {
    return Latest(Region::OpenNamed(name, Layout(), options));
  }
  // Opens the Latest<T> `ref` names (see Region::Open).
  static Latest Open(const RegionRef& ref, const OpenOptions& options = {}) {
    return Latest(Region::Open(ref, Layout(), options));
  }

  const Region& region() const { return region_; }
  RegionRef ref() const { return region_.ref(); }

  static RegionLayout Layout() { return LayoutOf<Latest<T>>("latest", 1); }

 private:
  explicit Latest(Region r) { Attach(std::move(r)); }
  void Attach(Region r) {
    this->cell_ = internal::LatestCell::Attach(
        r.payload(), r.payload_size(), sizeof(T),
        std::string(internal::TypeName<Latest<T>>()) + " in " +
            r.description());
    region_ = std::move(r);
  }

  Region region_;
};

// A Latest travels to other processes (Process arguments, pool tasks) as its
// region's ref, and over a Connection with send_handle().
template <class T>
struct CodecTraits<Latest<T>> : internal::RefHandleCodec<Latest<T>> {};

}  // namespace shoal

#endif  // SHOAL_IPC_LATEST_H_
