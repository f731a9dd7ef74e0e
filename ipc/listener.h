// Copyright 2026 The shoal Authors.
//
// listener.h: Listener and Client, Python's multiprocessing.connection
// Listener/Client in C++: unrelated processes find each other by an AF_UNIX
// address, prove they share a secret key, then talk over a Connection and
// hand each other shared objects (queues, channels, regions) by descriptor.
//
//   // server                                     # Python
//   shoal::Listener listener(shoal::AbstractAddress("jobs"), "secret");
//   //                                  Listener('\0jobs', authkey=b'secret')
//   shoal::Queue<int> q;
//   for (;;) {
//     shoal::Connection c = listener.accept();     # c = listener.accept()
//     c.send_handle(q);        // the client now shares q's memory
//   }
//
//   // client, any process of the same user
//   shoal::Connection c = shoal::Client(shoal::AbstractAddress("jobs"),
//                                       "secret");  # Client('\0jobs', ...)
//   auto q = c.recv_handle<shoal::Queue<int>>();
//   q.put(42);
//
// Addresses
//   An AF_UNIX address as Python writes it: a filesystem path ("/run/x.sock",
//   or relative), or an abstract name starting with a NUL byte ("\0name";
//   AbstractAddress("name") builds one, since a C++ literal "\0name" would
//   stop at the NUL). At most 107 bytes (108 for abstract, NUL included).
//   An empty address makes a Listener pick a random abstract one (128 random
//   bits); address() says which. A filesystem socket is created with mode
//   0600 (ListenerOptions::mode) and unlinked by close() or the destructor
//   in the process that created it; a stale socket file left by a killed
//   listener (same uid, nobody accepting) is replaced instead of failing
//   with "address in use". Abstract addresses need no cleanup, but have no
//   permissions either: anyone on the machine (same network namespace) can
//   connect, so give them an authkey.
//
// Authentication
//   With a non-empty `authkey` both sides run Python's challenge/response
//   (ipc/internal/auth_handshake.h): HMAC over 40 random bytes, the server
//   challenging first, then the client; the key itself never travels. It
//   interoperates with Python 3.11 and later in both directions (shoal
//   asks for HMAC-SHA256 and accepts Python 3.11's HMAC-MD5 answer, as
//   Python 3.12 does). An empty authkey means no handshake, as Python's
//   authkey=None: use it only where every local process is trusted.
//   Messages use Python's framing (ipc/connection.h), so send_bytes() /
//   recv_bytes() exchange bytes with a Python peer; send()/recv<T>() use
//   shoal's codec, not pickle.
//
// Failure
//   accept() throws shoal::AuthenticationError (as Python's accept) when the
//   next client to finish its handshake fails it: wrong key, garbage
//   instead of the protocol (a length over 256 bytes, no "#CHALLENGE#"), a
//   connection closed half-way, or no answer within
//   ListenerOptions::handshake_timeout. The message names the client's pid
//   and uid. That client is closed; the Listener stays usable, and the next
//   accept() carries on with the others. Handshakes run concurrently inside
//   accept() (non-blocking sockets, one poll() over all of them), so a
//   silent or slow client delays nobody else: it only holds one of
//   ListenerOptions::max_pending slots until its timeout. Handshakes move
//   only while accept() or a wait on the listener (shoal::wait, WaitSet)
//   runs, and only that time counts against
//   handshake_timeout (a server busy elsewhere between two accept() calls
//   never refuses a client for its own slowness). accept(deadline)
//   throws shoal::TimeoutError when no client completes by then.
//
//   Client() throws shoal::AuthenticationError when the listener refuses our
//   key ("digest sent was rejected") or does not hold the same key, or
//   answers with garbage; shoal::TimeoutError when connecting and the
//   handshake do not finish by the deadline; shoal::SystemError for a
//   missing or refused address (ENOENT, ECONNREFUSED).
//
// Process death: a client or server killed at any point is an EOF to the
// other side: during the handshake an AuthenticationError for that one
// peer, afterwards the Connection's EOFError. Nothing waits on a dead peer.
// A client killed during its handshake makes a wait on the listener ready
// at once (accept() then throws AuthenticationError for it).
//
// Waiting (ipc/wait.h): a Listener can be waited on with other objects;
// it is ready when accept() returns or throws at once. Cost: one epoll
// instance per listener (made at the first wait), an epoll_ctl per
// handshake step, and a non-blocking pass over the pending handshakes per
// wake-up.
//
// Why hand-written: the wire protocol is Python's (its framing and its
// challenge strings), which no C++ library speaks; the cryptography (HMAC,
// constant-time comparison) is OpenSSL's.
//
// Threads: one thread at a time per Listener. Cost (bench/listener_bench.cc,
// bench/RESULTS.md "## listener"): a connection without authkey costs
// ~1.4x a raw AF_UNIX connect; the authkey handshake adds ~30 us of CPU on
// each side (two HMACs, six short messages), once per connection.
// send_handle + recv_handle of an already mapped object: a few us.
#ifndef SHOAL_IPC_LISTENER_H_
#define SHOAL_IPC_LISTENER_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/internal/wait_hook.h"

namespace shoal {

// Python's '\0name': the abstract AF_UNIX address `name`.
inline std::string AbstractAddress(std::string_view name) {
  std::string a(1, '\0');
  a += name;
  return a;
}

// An address for messages: abstract ones as "\0name", as Python prints
// them.
std::string AddressToString(std::string_view address);

struct ListenerOptions {
  // Connections the kernel queues before accept() takes them (Python's
  // backlog; its default of 1 makes clients wait in connect()).
  int backlog = 128;
  // A client that does not complete the handshake within this much time
  // spent inside accept() calls is refused (AuthenticationError from
  // accept()).
  std::chrono::milliseconds handshake_timeout{5000};
  // Handshakes in progress at once; further clients wait in the kernel's
  // backlog until one finishes.
  std::size_t max_pending = 64;
  // Filesystem addresses only: the socket file's mode (a client needs write
  // permission to connect).
  mode_t mode = 0600;
};

// Who is at the other end of an accepted connection (SO_PEERCRED: the
// process that called connect()).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

class Listener {
 public:
  // Binds and listens on `address` (empty: a random abstract address).
  // Throws ValueError (address too long, or empty-named abstract),
  // SystemError (address in use by a live listener, no permission).
  explicit Listener(std::string address = {}, std::string authkey = {},
                    const ListenerOptions& options = {});
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  // The next authenticated connection (Python framing). Throws
  // AuthenticationError (one refused client; call again), TimeoutError
  // (deadline), Closed.
  Connection accept(const Deadline& deadline = Deadline());

  // Stops listening: closes the socket and the handshakes in progress, and
  // unlinks a filesystem address this process created. Idempotent.
  void close();
  bool closed() const;

  // The address clients connect to (as given, or the random one).
  const std::string& address() const { return address_; }
  // The listening socket (readable when a new client is queued; handshakes
  // in progress are not reflected in it).
  int fileno() const;
  // The credentials of the peer behind the last connection accept()
  // returned (Python's last_accepted gives an address, which AF_UNIX
  // clients rarely have).
  const PeerCredentials& last_accepted() const { return last_accepted_; }
  // Clients refused so far (wrong key, garbage, timeout).
  uint64_t refused() const { return refused_; }
  // Handshakes in progress now.
  std::size_t pending() const;

  // For shoal::wait and WaitSet (ipc/wait.h): ready when accept() would
  // return or throw at once -- a client finished its handshake (or, without
  // an authkey, is queued), one was refused (AuthenticationError), or the
  // listener was closed (Closed). A wait moves the handshakes as accept()
  // does, without blocking, and its time counts against handshake_timeout
  // as time in accept() does; a client out of time is refused by the wait
  // (with WaitSet::fd() in an event loop: by the next poll() or accept()).
  // Throws Closed for a closed listener. Found by argument-dependent lookup.
  friend internal::WaitHookPtr MakeWaitHook(const Listener& listener);

 private:
  struct State;
  class WaitHookImpl;  // listener.cc
  // Returns (or throws) the outcome a Step found (listener.cc).
  Connection TakeFound();
  std::string address_;
  PeerCredentials last_accepted_;
  uint64_t refused_ = 0;
  // Shared with the wait hooks of this listener (they outlive a moved-from
  // or destroyed handle safely: a closed state reads as ready).
  std::shared_ptr<State> state_;
};

// Python's multiprocessing.connection.Client: connects to `address` and, if
// `authkey` is non-empty, runs the handshake. `deadline` bounds connecting
// (waiting for a backlog slot) and the handshake together. Returns a
// Connection with Python framing. Without a deadline it waits as Python's
// does: for a listener that does not call accept(), or one that has no
// authkey while we have one (it never challenges us), that is forever; pass
// a deadline whenever the listener is not trusted to behave.
Connection Client(std::string_view address, std::string_view authkey = {},
                  const Deadline& deadline = Deadline());

}  // namespace shoal

#endif  // SHOAL_IPC_LISTENER_H_
