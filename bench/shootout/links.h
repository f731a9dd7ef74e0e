// Copyright 2026 The shoal Authors.
//
// links.h: one "link" per C++ method of the shoot-out. A link moves
// messages of a fixed size between two processes, a driver (side 0) and a
// peer (side 1), in direction 0 (driver -> peer) and, for round trips, in
// direction 1 (peer -> driver).
//
//   L link(spec);        in the coordinator, before fork: creates what both
//                        processes share (and unlinks every name at once
//                        when it can, so a crash leaves nothing behind)
//   link.Attach(side);   in each child after fork
//   link.Ready(side);    after both children attached (e.g. connect)
//   link.Send(dir, seq); stamps `seq` into a message of spec.size bytes and
//                        sends it (bench_util.h Stamp)
//   link.Recv(dir);      receives one message, checks all its stamps and
//                        returns its seq (kBadSeq when anything is wrong)
//   link.Detach(side);   in each child before it exits
//   ~L()                 in the coordinator after both children exited
//
// Every link moves exactly spec.size bytes per message and the receiver
// checks them (the honesty rule of the shoot-out). Copying links copy the
// whole message in and out; zero-copy links (shoal.channel.loan, iceoryx)
// stamp the message in shared memory and read the stamps there: not copying
// is what they are for.
#ifndef SHOAL_BENCH_SHOOTOUT_LINKS_H_
#define SHOAL_BENCH_SHOOTOUT_LINKS_H_

#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "boost/interprocess/ipc/message_queue.hpp"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/queue.h"

namespace shoal::shootout {

using bench::Check;
using bench::kBadSeq;
using bench::Stamp;

struct Spec {
  std::size_t size = 64;    // bytes per message, a multiple of 8
  std::size_t depth = 1024;  // messages a queue-like link holds (streams)
  bool round_trip = false;   // both directions are used
  std::string tag;           // unique per case: names are built from it
};

[[noreturn]] inline void Fail(const std::string& what) {
  throw std::runtime_error(what);
}
[[noreturn]] inline void FailErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// How every spinning row of the shoot-out waits (floors and the peers'
// busy-polling modes alike): pause, and after ~2k failed polls yield the CPU
// at each poll. On an idle machine the yield is never reached within a
// message; on an oversubscribed one it hands the CPU to the process we wait
// for instead of burning the time slice.
class PollWait {
 public:
  void Wait() {
    if (++n_ < kSpins) {
      bench::Relax();
    } else {
      sched_yield();
    }
  }
  void Reset() { n_ = 0; }

 private:
  static constexpr uint32_t kSpins = 2048;
  uint32_t n_ = 0;
};

// True for the shoot-out's control messages (end of repeat, exit): a
// batching floor publishes them at once.
inline bool IsControl(uint64_t seq) { return seq >= bench::kStopSeq - 2; }

// Send and receive buffers for the copying links.
struct Buffers {
  explicit Buffers(const Spec& s)
      : bytes(s.size), words(s.size / 8), out(words), in(words) {
    bench::Fill(out.data(), words);
    bench::Fill(in.data(), words);
  }
  void StampOut(uint64_t seq) { Stamp(out.data(), words, seq); }
  uint64_t CheckIn(std::size_t got) const {
    return got == bytes ? Check(in.data(), words) : kBadSeq;
  }
  std::size_t bytes, words;
  std::vector<uint64_t> out, in;
};

// Default no-op hooks.
struct LinkBase {
  void Attach(int) {}
  void Ready(int) {}
  void Detach(int) {}
  static constexpr bool kNeedsExit = false;  // child must exit() not _exit()
};

// ------------------------------------------------------------ shoal.queue

// The item type a user would pick for a message of this size: one word, a
// fixed 64-byte struct, or a vector of words.
template <class T>
struct Item;
template <>
struct Item<uint64_t> {
  static uint64_t Make(const Buffers&, uint64_t seq) { return seq; }
  static uint64_t CheckItem(const uint64_t& v, const Buffers&) { return v; }
};
template <>
struct Item<std::array<uint64_t, 8>> {
  using A = std::array<uint64_t, 8>;
  static A Make(const Buffers&, uint64_t seq) {
    A a;
    bench::Fill(a.data(), 8);
    Stamp(a.data(), 8, seq);
    return a;
  }
  static uint64_t CheckItem(const A& a, const Buffers&) {
    return Check(a.data(), 8);
  }
};
template <>
struct Item<std::vector<uint64_t>> {
  using V = std::vector<uint64_t>;
  static const V& Make(Buffers& b, uint64_t seq) {
    b.StampOut(seq);
    return b.out;
  }
  static uint64_t CheckItem(const V& v, const Buffers& b) {
    return v.size() == b.words ? Check(v.data(), v.size()) : kBadSeq;
  }
};

// kSpsc: declared single producer and single consumer (QueueOptions), the
// path for a queue with one process on each side.
template <template <class> class Q, class T, bool kSpsc = false>
class QueueLink : public LinkBase {
 public:
  explicit QueueLink(const Spec& s) : buf_(s) {
    QueueOptions o;
    o.single_producer = o.single_consumer = kSpsc;
    o.maxsize = s.round_trip ? 16 : s.depth;
    const uint64_t need = 2 * (o.maxsize + 2) * (s.size + 64);
    if (need > o.heap_bytes) o.heap_bytes = need;
    q_.emplace_back(o);
    if (s.round_trip) q_.emplace_back(o);
  }
  void Send(int dir, uint64_t seq) {
    if constexpr (std::is_same_v<T, std::vector<uint64_t>>) {
      q_[dir].put(Item<T>::Make(buf_, seq));
    } else {
      q_[dir].put(Item<T>::Make(buf_, seq));
    }
  }
  uint64_t Recv(int dir) {
    if constexpr (std::is_same_v<T, std::vector<uint64_t>>) {
      held_ = q_[dir].get();  // a fresh vector each time: the API's cost
      return Item<T>::CheckItem(held_, buf_);
    } else {
      return Item<T>::CheckItem(q_[dir].get(), buf_);
    }
  }

 private:
  Buffers buf_;
  std::vector<Q<T>> q_;
  std::vector<uint64_t> held_;
};

// shoal.queue.batch: a Queue<uint64_t> with one producer and one consumer
// declared, moved with put_many / get_many of up to kBatch items (streams of
// 8 B items). The producer hands over every kBatch items, and at once for a
// control message, as floor.spsc.batch does; the consumer takes whatever is
// published, up to kBatch, and checks every item.
class QueueBatchLink : public LinkBase {
 public:
  static constexpr std::size_t kBatch = 64;
  explicit QueueBatchLink(const Spec& s) {
    if (s.size != 8 || s.round_trip) Fail("shoal.queue.batch: streams of 8 B items only");
    QueueOptions o;
    o.single_producer = o.single_consumer = true;
    o.maxsize = s.depth;
    q_.emplace(o);
    out_.reserve(kBatch);
  }
  void Send(int, uint64_t seq) {
    out_.push_back(seq);
    if (out_.size() == kBatch || IsControl(seq)) {
      if (q_->put_many(std::span<const uint64_t>(out_)) != out_.size()) {
        Fail("shoal.queue.batch: put_many took fewer items than given");
      }
      out_.clear();
    }
  }
  uint64_t Recv(int) {
    if (next_ == have_) {
      have_ = q_->get_many(std::span<uint64_t>(in_));
      next_ = 0;
    }
    return in_[next_++];
  }

 private:
  std::optional<Queue<uint64_t>> q_;
  std::vector<uint64_t> out_;
  std::array<uint64_t, kBatch> in_{};
  std::size_t next_ = 0, have_ = 0;
};

// ------------------------------------------------------------ shoal.pipe

class ShoalPipeLink : public LinkBase {
 public:
  explicit ShoalPipeLink(const Spec& s) : buf_(s) {
    auto [a, b] = shoal::Pipe(/*duplex=*/true);
    end_[0] = std::move(a);
    end_[1] = std::move(b);
  }
  // Side s writes direction s on end s and reads direction 1-s on end s.
  void Send(int dir, uint64_t seq) {
    buf_.StampOut(seq);
    end_[dir].send_bytes(std::as_bytes(std::span<const uint64_t>(buf_.out)));
  }
  uint64_t Recv(int dir) {
    const std::size_t n = end_[1 - dir].recv_bytes_into(
        std::as_writable_bytes(std::span<uint64_t>(buf_.in)));
    return buf_.CheckIn(n);
  }

 private:
  Buffers buf_;
  Connection end_[2];
};

// ------------------------------------------------------- shoal.channel(.loan)

template <bool kLoan>
class ChannelLink : public LinkBase {
 public:
  explicit ChannelLink(const Spec& s) : buf_(s) {
    const uint32_t slots = s.round_trip ? 2 : static_cast<uint32_t>(s.depth);
    ch_.emplace_back(buf_.words, slots);
    if (s.round_trip) ch_.emplace_back(buf_.words, slots);
  }
  void Send(int dir, uint64_t seq) {
    if constexpr (kLoan) {
      auto w = ch_[dir].loan(buf_.words);
      Stamp(w.data(), buf_.words, seq);
      w.publish();
    } else {
      buf_.StampOut(seq);
      ch_[dir].send(std::span<const uint64_t>(buf_.out));
    }
  }
  uint64_t Recv(int dir) {
    if constexpr (kLoan) {
      auto v = ch_[dir].receive();
      return v.size() == buf_.words ? Check(v.data(), buf_.words) : kBadSeq;
    } else {
      const std::size_t n = ch_[dir].recv(std::span<uint64_t>(buf_.in));
      return buf_.CheckIn(n * 8);
    }
  }

 private:
  Buffers buf_;
  std::vector<Channel<uint64_t>> ch_;
};

// ------------------------------------------------------- os.pipe, socketpair

// Writes / reads exactly n bytes. A descriptor in O_NONBLOCK mode (the
// busy-polling rows) gets EAGAIN instead of sleeping: poll again.
inline void WriteAll(int fd, const void* p, std::size_t n) {
  auto* c = static_cast<const char*>(p);
  PollWait w;
  while (n > 0) {
    ssize_t r = write(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) {
      w.Wait();
      continue;
    }
    if (r <= 0) FailErrno("write");
    c += r;
    n -= static_cast<std::size_t>(r);
  }
}
inline std::size_t ReadAll(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  std::size_t got = 0;
  PollWait w;
  while (got < n) {
    ssize_t r = read(fd, c + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) {
      w.Wait();
      continue;
    }
    if (r < 0) FailErrno("read");
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

// Raw pipe(2): one pipe per direction; write() the message, read() it whole.
// kPoll: O_NONBLOCK, busy-polling read()/write() (the fastest mode a pipe
// offers when both sides are active).
template <bool kPoll>
class OsPipeLink : public LinkBase {
 public:
  explicit OsPipeLink(const Spec& s) : buf_(s) {
    for (auto& p : fd_) {
      if (pipe2(p, O_CLOEXEC | (kPoll ? O_NONBLOCK : 0)) != 0) FailErrno("pipe2");
    }
  }
  ~OsPipeLink() {
    for (auto& p : fd_) {
      close(p[0]);
      close(p[1]);
    }
  }
  void Send(int dir, uint64_t seq) {
    buf_.StampOut(seq);
    WriteAll(fd_[dir][1], buf_.out.data(), buf_.bytes);
  }
  uint64_t Recv(int dir) {
    return buf_.CheckIn(ReadAll(fd_[dir][0], buf_.in.data(), buf_.bytes));
  }

 private:
  Buffers buf_;
  int fd_[2][2];
};

// Raw socketpair(AF_UNIX, SOCK_STREAM): side s uses socket s. kPoll:
// SOCK_NONBLOCK, busy-polling read()/write().
template <bool kPoll>
class SocketpairLink : public LinkBase {
 public:
  explicit SocketpairLink(const Spec& s) : buf_(s) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (kPoll ? SOCK_NONBLOCK : 0),
                   0, sv_) != 0) {
      FailErrno("socketpair");
    }
  }
  ~SocketpairLink() {
    close(sv_[0]);
    close(sv_[1]);
  }
  void Send(int dir, uint64_t seq) {
    buf_.StampOut(seq);
    WriteAll(sv_[dir], buf_.out.data(), buf_.bytes);
  }
  uint64_t Recv(int dir) {
    return buf_.CheckIn(ReadAll(sv_[1 - dir], buf_.in.data(), buf_.bytes));
  }

 private:
  Buffers buf_;
  int sv_[2];
};

// ------------------------------------------------------- os.mq (POSIX mq)

// The system limits for POSIX message queues (unprivileged defaults 10
// messages of 8 KiB); 0 when unreadable.
inline long ReadProcLong(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  long v = 0;
  if (std::fscanf(f, "%ld", &v) != 1) v = 0;
  std::fclose(f);
  return v;
}
inline long MqMsgMax() {
  long v = ReadProcLong("/proc/sys/fs/mqueue/msg_max");
  return v > 0 ? v : 10;
}
inline long MqMsgSizeMax() {
  long v = ReadProcLong("/proc/sys/fs/mqueue/msgsize_max");
  return v > 0 ? v : 8192;
}

// kPoll: O_NONBLOCK, busy-polling mq_send()/mq_receive().
template <bool kPoll>
class PosixMqLink : public LinkBase {
 public:
  explicit PosixMqLink(const Spec& s) : buf_(s) {
    mq_attr attr{};
    attr.mq_maxmsg = std::min<long>(static_cast<long>(s.depth), MqMsgMax());
    attr.mq_msgsize = static_cast<long>(s.size);
    for (int d = 0; d < 2; ++d) {
      const std::string name = "/shoal-shootout-" + s.tag + "-" + std::to_string(d);
      mq_[d] = mq_open(name.c_str(),
                       O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | (kPoll ? O_NONBLOCK : 0),
                       0600, &attr);
      if (mq_[d] == static_cast<mqd_t>(-1)) FailErrno("mq_open " + name);
      mq_unlink(name.c_str());  // the descriptors live on; nothing to leak
    }
  }
  ~PosixMqLink() {
    for (mqd_t q : mq_) mq_close(q);
  }
  void Send(int dir, uint64_t seq) {
    buf_.StampOut(seq);
    PollWait w;
    while (mq_send(mq_[dir], reinterpret_cast<const char*>(buf_.out.data()),
                   buf_.bytes, 0) != 0) {
      if (errno == EAGAIN) {
        w.Wait();
      } else if (errno != EINTR) {
        FailErrno("mq_send");
      }
    }
  }
  uint64_t Recv(int dir) {
    PollWait w;
    for (;;) {
      ssize_t n = mq_receive(mq_[dir], reinterpret_cast<char*>(buf_.in.data()),
                             buf_.bytes, nullptr);
      if (n >= 0) return buf_.CheckIn(static_cast<std::size_t>(n));
      if (errno == EAGAIN) {
        w.Wait();
      } else if (errno != EINTR) {
        FailErrno("mq_receive");
      }
    }
  }

 private:
  Buffers buf_;
  mqd_t mq_[2];
};

// ------------------------------------------------- boost.mq (message_queue)

// kPoll: both sides busy-poll try_send / try_receive (Boost's non-blocking
// calls) instead of sleeping in send / receive.
template <bool kPoll>
class BoostMqLink : public LinkBase {
 public:
  explicit BoostMqLink(const Spec& s) : buf_(s) {
    namespace bi = boost::interprocess;
    const std::size_t depth = s.round_trip ? 16 : s.depth;
    for (int d = 0; d < 2; ++d) {
      const std::string name = "shoal-shootout-" + s.tag + "-" + std::to_string(d);
      bi::message_queue::remove(name.c_str());
      mq_[d] = std::make_unique<bi::message_queue>(bi::create_only, name.c_str(),
                                                   depth, s.size);
      // The mapping stays valid (here and in forked children) after the
      // name is gone, so nothing is left in /dev/shm even after a crash.
      bi::message_queue::remove(name.c_str());
    }
  }
  void Send(int dir, uint64_t seq) {
    buf_.StampOut(seq);
    if constexpr (kPoll) {
      PollWait w;
      while (!mq_[dir]->try_send(buf_.out.data(), buf_.bytes, 0)) w.Wait();
    } else {
      mq_[dir]->send(buf_.out.data(), buf_.bytes, 0);
    }
  }
  uint64_t Recv(int dir) {
    boost::interprocess::message_queue::size_type got = 0;
    unsigned prio = 0;
    if constexpr (kPoll) {
      PollWait w;
      while (!mq_[dir]->try_receive(buf_.in.data(), buf_.bytes, got, prio)) w.Wait();
    } else {
      mq_[dir]->receive(buf_.in.data(), buf_.bytes, got, prio);
    }
    return buf_.CheckIn(got);
  }

 private:
  Buffers buf_;
  std::unique_ptr<boost::interprocess::message_queue> mq_[2];
};

}  // namespace shoal::shootout

#endif  // SHOAL_BENCH_SHOOTOUT_LINKS_H_
