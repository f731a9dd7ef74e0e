// Copyright 2026 The shoal Authors.
//
// peer_links.h: the library peers that need more than a header: ZeroMQ
// ipc:// PAIR sockets and iceoryx publish/subscribe (with the RouDi daemon
// the shoot-out starts and stops itself). See links.h for the link
// interface.
#ifndef SHOAL_BENCH_SHOOTOUT_PEER_LINKS_H_
#define SHOAL_BENCH_SHOOTOUT_PEER_LINKS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/shootout/links.h"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#include "zmq.hpp"

namespace shoal::shootout {

// ------------------------------------------------------------------ zmq

// ZeroMQ PAIR sockets over ipc://: the peer binds, the driver connects once
// the peer is bound (so no reconnect back-off is ever paid). Each process
// makes its own context after fork (contexts are not fork-safe). send()
// copies the message into a zmq message; recv() copies it into our buffer.
// poll: send and recv with ZMQ_DONTWAIT, polling again on EAGAIN (ZeroMQ's
// busy-polling mode; the default mode sleeps in the socket's mailbox).
class ZmqLink : public LinkBase {
 public:
  explicit ZmqLink(const Spec& s, bool poll = false);
  ~ZmqLink();
  void Attach(int side);
  void Ready(int side);
  void Detach(int side);
  void Send(int dir, uint64_t seq) {
    buf_.StampOut(seq);
    const zmq::const_buffer b(buf_.out.data(), buf_.bytes);
    if (!poll_) {
      sock_->send(b, zmq::send_flags::none);
      return;
    }
    PollWait w;
    while (!sock_->send(b, zmq::send_flags::dontwait)) w.Wait();
  }
  uint64_t Recv(int dir) {
    const zmq::mutable_buffer b(buf_.in.data(), buf_.bytes);
    zmq::recv_buffer_result_t r;
    if (!poll_) {
      r = sock_->recv(b, zmq::recv_flags::none);
    } else {
      PollWait w;
      while (!(r = sock_->recv(b, zmq::recv_flags::dontwait))) w.Wait();
    }
    if (!r || r->truncated()) return kBadSeq;
    return buf_.CheckIn(r->size);
  }

 private:
  Buffers buf_;
  bool poll_;
  std::string path_;
  std::optional<zmq::context_t> ctx_;
  std::optional<zmq::socket_t> sock_;
};

// --------------------------------------------------------------- iceoryx

// The RouDi daemon of one shoot-out run. iceoryx 2.0 uses fixed names
// (/dev/shm/iceoryx_mgmt, /dev/shm/<group>, /tmp/roudi), so only one RouDi
// can run on a machine: Start() refuses when one seems to be running, and
// Stop() removes whatever the daemon it started left behind.
class RouDi {
 public:
  // Starts iox-roudi with mempools fitting messages of `sizes` bytes and
  // `depth(size)` in flight; waits until it is ready. Returns an empty
  // string on success, else why it could not.
  std::string Start(const std::vector<std::size_t>& sizes,
                    std::size_t (*depth)(std::size_t), const std::string& dir);
  // SIGTERM, wait, SIGKILL after 10 s; then checks /dev/shm and /tmp.
  // Returns what had to be cleaned up by hand (empty when nothing).
  std::string Stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Why iceoryx cannot run here, or "" (iox-roudi missing, another RouDi).
  static std::string Unavailable();

 private:
  pid_t pid_ = -1;
  std::string log_;
  std::vector<std::string> created_;  // paths that did not exist before
};

// Starts this process's iceoryx runtime (one per process) under `name`,
// with the client library's start-up chatter on stderr muted.
void InitIceoryxRuntime(const std::string& name);

// iceoryx publish/subscribe: the driver publishes on "d0" and subscribes to
// "d1"; the peer the other way round. Zero-copy: loan a chunk, stamp it,
// publish; take, check the stamps in place, release. The subscriber blocks
// in a WaitSet (iceoryx's documented way to wait) when nothing is there, or
// with poll, calls take() again at once (iceoryx's polling subscriber, no
// WaitSet); the publisher waits for a slow subscriber (WAIT_FOR_CONSUMER +
// BLOCK_PRODUCER), so no message is ever dropped.
class IceoryxLink : public LinkBase {
 public:
  static constexpr bool kNeedsExit = true;  // the runtime must unregister

  explicit IceoryxLink(const Spec& s, bool poll = false) : spec_(s), poll_(poll) {}
  void Attach(int side);
  void Ready(int side);
  void Detach(int side);
  void Send(int dir, uint64_t seq);
  uint64_t Recv(int dir);

 private:
  Spec spec_;
  bool poll_;
  std::optional<iox::popo::UntypedPublisher> pub_;
  std::optional<iox::popo::UntypedSubscriber> sub_;
  std::optional<iox::popo::WaitSet<>> ws_;
};

// The busy-polling modes as link types of their own.
struct ZmqPollLink : ZmqLink {
  explicit ZmqPollLink(const Spec& s) : ZmqLink(s, true) {}
};
struct IceoryxPollLink : IceoryxLink {
  explicit IceoryxPollLink(const Spec& s) : IceoryxLink(s, true) {}
};

}  // namespace shoal::shootout

#endif  // SHOAL_BENCH_SHOOTOUT_PEER_LINKS_H_
