// Tests for ipc/listener.h: Listener/Client across real processes, the
// authkey handshake (wrong keys, silent clients, garbage frames), passing
// shared objects by descriptor to processes that did not inherit them, and
// interoperation with Python 3's multiprocessing.connection.
#include "shoal/ipc/listener.h"

#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/internal/auth_handshake.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/region.h"
#include "shoal/pool/handles.h"
#include "shoal/pool/process.h"
#include "tests/ipc/fork_helper.h"

extern char** environ;

namespace {

using shoal::testing::RunInChild;
using shoal::testing::StartChild;
using shoal::testing::WaitChild;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// Handshakes in tests that are not about handshake_timeout get far more
// than the 5 s default: on a loaded CI machine a forked or spawned client
// can be off the CPU for seconds, and its refusal would fail the test.
shoal::ListenerOptions Patient() {
  shoal::ListenerOptions o;
  o.handshake_timeout = seconds(30);
  return o;
}

std::string UniqueName(const char* tag) {
  return std::string("shoal-test-") + tag + "-" + std::to_string(getpid()) +
         "-" + shoal::internal::RandomHex128().substr(0, 8);
}

std::string TempPath(const char* tag) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string d = dir != nullptr ? dir : "/tmp";
  std::string p = d + "/" + tag + std::to_string(getpid()) + ".sock";
  // Bazel's TEST_TMPDIR can be deep; sun_path holds 107 bytes.
  if (p.size() > 100) p = "/tmp/" + std::string(tag) + std::to_string(getpid()) + ".sock";
  return p;
}

std::string Runfile(const std::string& rel) {
  const char* src = std::getenv("TEST_SRCDIR");
  return std::string(src != nullptr ? src : ".") + "/shoal/" + rel;
}

// A raw AF_UNIX stream socket connected to `address` (no handshake).
int RawConnect(const std::string& address) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address.data(), address.size());
  socklen_t len = static_cast<socklen_t>(
      offsetof(sockaddr_un, sun_path) + address.size() +
      (address[0] == '\0' ? 0 : 1));
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void WriteAllFd(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Reads a Python-framed message (blocking, bounded by alarm in children).
std::string ReadFrame(int fd) {
  unsigned char h[4];
  size_t got = 0;
  while (got < 4) {
    ssize_t n = recv(fd, h + got, 4 - got, 0);
    if (n <= 0) return "<eof>";
    got += static_cast<size_t>(n);
  }
  uint32_t be;
  std::memcpy(&be, h, 4);
  std::string out(be32toh(be), '\0');
  got = 0;
  while (got < out.size()) {
    ssize_t n = recv(fd, out.data() + got, out.size() - got, 0);
    if (n <= 0) return "<eof>";
    got += static_cast<size_t>(n);
  }
  return out;
}

std::string Frame(const std::string& payload) {
  std::string out;
  shoal::internal::AppendPythonFrame(out, payload);
  return out;
}

// Serves one echo round on an accepted connection: reads a message and
// sends it back reversed, until EOF.
void EchoUntilEof(shoal::Connection& c) {
  for (;;) {
    std::string m;
    try {
      m = c.recv_bytes(shoal::Connection::kNoLimit, seconds(20));
    } catch (const shoal::EOFError&) {
      return;
    }
    std::string r(m.rbegin(), m.rend());
    c.send_bytes(r);
  }
}

// ---------------------------------------------------------------------------

TEST(Listener, AbstractAddressRoundTripAndPeerCredentials) {
  const std::string address = shoal::AbstractAddress(UniqueName("basic"));
  shoal::Listener listener(address, "secret", Patient());
  EXPECT_EQ(listener.address(), address);
  pid_t child = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "secret", seconds(10));
    c.send_bytes(std::string_view("ping"));
    return c.recv_bytes() == "gnip" ? 0 : 1;
  });
  shoal::Connection c = listener.accept(seconds(20));
  EXPECT_EQ(listener.last_accepted().pid, child);
  EXPECT_EQ(listener.last_accepted().uid, geteuid());
  EXPECT_EQ(c.framing(), shoal::Connection::Framing::kPython);
  EchoUntilEof(c);
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_EQ(listener.refused(), 0u);
}

TEST(Listener, RandomAddressWhenEmptyAndNoAuthkey) {
  shoal::Listener listener;
  ASSERT_GT(listener.address().size(), 2u);
  EXPECT_EQ(listener.address()[0], '\0');
  const std::string address = listener.address();
  pid_t child = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "", seconds(10));
    c.send<std::vector<int>>({1, 2, 3});
    return 0;
  });
  shoal::Connection c = listener.accept(seconds(20));
  EXPECT_EQ(c.recv<std::vector<int>>(seconds(10)),
            (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(WaitChild(child), 0);
}

TEST(Listener, FilesystemAddressModeUnlinkAndStaleReplacement) {
  const std::string path = TempPath("fs");
  ::unlink(path.c_str());
  {
    shoal::Listener listener(path, "k", Patient());
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    pid_t child = StartChild([&] {
      shoal::Connection c = shoal::Client(path, "k", seconds(10));
      c.send_bytes(std::string_view("abc"));
      return c.recv_bytes() == "cba" ? 0 : 1;
    });
    shoal::Connection c = listener.accept(seconds(20));
    EchoUntilEof(c);
    EXPECT_EQ(WaitChild(child), 0);
    // A second live listener on the same path is refused.
    EXPECT_THROW(shoal::Listener(path, "k"), shoal::SystemError);
  }
  struct stat st;
  EXPECT_NE(stat(path.c_str(), &st), 0) << "close() unlinks the socket file";

  // A listener SIGKILLed leaves its socket file; the next one replaces it.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t owner = StartChild([&] {
    shoal::Listener l(path, "k");
    char b = 1;
    (void)!write(ready[1], &b, 1);
    pause();
    return 0;
  });
  char b;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  kill(owner, SIGKILL);
  EXPECT_EQ(WaitChild(owner), -SIGKILL);
  ASSERT_EQ(stat(path.c_str(), &st), 0) << "the killed listener's file stays";
  shoal::Listener again(path, "k", Patient());
  pid_t child = StartChild([&] {
    shoal::Connection c = shoal::Client(path, "k", seconds(10));
    return 0;
  });
  shoal::Connection c = again.accept(seconds(20));
  EXPECT_EQ(WaitChild(child), 0);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(Listener, BadAddresses) {
  EXPECT_THROW(shoal::Listener(std::string(1, '\0'), "k"), shoal::ValueError);
  EXPECT_THROW(shoal::Listener(std::string(200, 'x'), "k"), shoal::ValueError);
  EXPECT_THROW(shoal::Client(std::string(200, 'x'), "k"), shoal::ValueError);
  try {
    shoal::Client(shoal::AbstractAddress(UniqueName("nobody")), "k",
                  seconds(1));
    FAIL() << "expected SystemError";
  } catch (const shoal::SystemError& e) {
    EXPECT_EQ(e.error_code(), ECONNREFUSED);
  }
  try {
    shoal::Client("/nonexistent/dir/sock", "k", seconds(1));
    FAIL() << "expected SystemError";
  } catch (const shoal::SystemError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
  }
}

// A server busy elsewhere between two accept() calls (longer than the
// handshake timeout) does not refuse a client that answered meanwhile.
TEST(Listener, TimeOutsideAcceptDoesNotCountAgainstClients) {
  const std::string address = shoal::AbstractAddress(UniqueName("busy"));
  shoal::ListenerOptions opts;
  // The client's remaining steps happen inside the last accept(), so it
  // gets a scheduling slack for them; the server is busy for longer.
  opts.handshake_timeout = shoal::testing::kSchedulingSlack;
  shoal::Listener listener(address, "k", opts);
  pid_t first = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "k", seconds(20));
    return 0;
  });
  shoal::Connection c1 = listener.accept(seconds(20));
  EXPECT_EQ(WaitChild(first), 0);
  // The second client connects while the server is busy: its handshake
  // starts only at the next accept(), after more than a handshake timeout.
  pid_t second = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "k", seconds(20));
    c.send<int>(2);
    return 0;
  });
  int ready = 0;
  // Progress-driven: wait until the client is queued (connected).
  const auto give_up = Clock::now() + seconds(20);
  while (ready == 0 && Clock::now() < give_up) {
    pollfd p{listener.fileno(), POLLIN, 0};
    ready = ::poll(&p, 1, 20);
  }
  ASSERT_GT(ready, 0);
  // The client is stopped while its handshake starts, so it cannot answer
  // within this accept() (a quick client on an idle machine would finish
  // the whole handshake inside it): the challenge goes out, the call times
  // out, the handshake stays pending.
  ASSERT_EQ(kill(second, SIGSTOP), 0);
  EXPECT_THROW(listener.accept(shoal::Deadline::Now()), shoal::TimeoutError);
  ASSERT_EQ(kill(second, SIGCONT), 0);
  EXPECT_EQ(listener.pending(), 1u);
  // The client answers while the server is busy elsewhere, for longer than
  // the handshake timeout. That time does not count against the client.
  std::this_thread::sleep_for(shoal::testing::kSchedulingSlack + seconds(1));
  shoal::Connection c2 = listener.accept(seconds(20));
  EXPECT_EQ(listener.last_accepted().pid, second);
  EXPECT_EQ(c2.recv<int>(seconds(20)), 2);
  EXPECT_EQ(WaitChild(second), 0);
  EXPECT_EQ(listener.refused(), 0u);
}

// 16 clients at once, 5 of them with a wrong key: the 11 others are
// accepted and served, the 5 are refused (AuthenticationError on both
// sides), and nothing else is disturbed.
TEST(Listener, SixteenClientsSomeWithWrongKeys) {
  const std::string address = shoal::AbstractAddress(UniqueName("sixteen"));
  shoal::Listener listener(address, "right key", Patient());
  constexpr int kClients = 16;
  auto bad = [](int i) { return i % 3 == 1; };  // 1 4 7 10 13
  int bad_count = 0;
  std::vector<pid_t> kids;
  for (int i = 0; i < kClients; ++i) {
    if (bad(i)) ++bad_count;
    kids.push_back(StartChild([&, i] {
      try {
        shoal::Connection c = shoal::Client(
            address, bad(i) ? "wrong key" : "right key", seconds(20));
        if (bad(i)) return 10;  // should have been refused
        c.send<int>(i);
        return c.recv<int>(seconds(20)) == i * 100 ? 0 : 11;
      } catch (const shoal::AuthenticationError& e) {
        if (!bad(i)) return 12;
        return std::string(e.what()).find("rejected") != std::string::npos
                   ? 0
                   : 13;
      }
    }));
  }
  int served = 0;
  int refused = 0;
  std::vector<pid_t> served_pids;
  while (served < kClients - bad_count || refused < bad_count) {
    try {
      shoal::Connection c = listener.accept(seconds(30));
      served_pids.push_back(listener.last_accepted().pid);
      int i = c.recv<int>(seconds(20));
      c.send<int>(i * 100);
      ++served;
    } catch (const shoal::AuthenticationError& e) {
      EXPECT_NE(std::string(e.what()).find("digest received was wrong"),
                std::string::npos)
          << e.what();
      ++refused;
    }
  }
  EXPECT_EQ(served, kClients - bad_count);
  EXPECT_EQ(refused, bad_count);
  std::printf("[figures] listener: %d clients at once, %d served, %d with a "
              "wrong key refused (AuthenticationError on both sides)\n",
              kClients, served, refused);
  EXPECT_EQ(listener.refused(), static_cast<uint64_t>(bad_count));
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(WaitChild(kids[i]), 0) << "client " << i;
    bool was_served = std::find(served_pids.begin(), served_pids.end(),
                                kids[i]) != served_pids.end();
    EXPECT_EQ(was_served, !bad(i)) << "client " << i;
  }
}

// A client that connects and never answers holds one handshake slot until
// its timeout; a good client that comes after it is accepted meanwhile.
TEST(Listener, SilentClientDoesNotDelayOthersAndIsRefusedInTime) {
  const std::string address = shoal::AbstractAddress(UniqueName("silent"));
  // One timeout for both clients: 2 s leaves the good (forked) client room
  // to finish its handshake on a loaded machine; the silent one is still
  // refused at the timeout, not at accept()'s 20 s.
  shoal::ListenerOptions opts;
  opts.handshake_timeout = milliseconds(2000);
  shoal::Listener listener(address, "k", opts);
  int silent = RawConnect(address);
  ASSERT_GE(silent, 0);
  pid_t good = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "k", seconds(20));
    c.send<int>(7);
    return 0;
  });
  const auto start = Clock::now();
  shoal::Connection c = listener.accept(seconds(20));
  EXPECT_EQ(listener.last_accepted().pid, good);
  EXPECT_EQ(c.recv<int>(seconds(20)), 7);
  // The silent one is still in its handshake, unless the machine was so
  // slow that its timeout has passed already.
  if (Clock::now() - start < milliseconds(1800)) {
    EXPECT_EQ(listener.pending(), 1u);
  }
  try {
    listener.accept(seconds(20));
    FAIL() << "expected AuthenticationError";
  } catch (const shoal::AuthenticationError& e) {
    EXPECT_NE(std::string(e.what()).find("within 2000 ms"), std::string::npos)
        << e.what();
  }
  EXPECT_GE(Clock::now() - start, milliseconds(2000));
  std::printf("[figures] listener: silent client refused after %lld ms "
              "(handshake_timeout 2000 ms); the good client behind it was "
              "served first\n",
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(Clock::now() - start)
                      .count()));
  EXPECT_EQ(listener.pending(), 0u);
  // The silent client got our challenge, then was closed: EOF.
  EXPECT_NE(ReadFrame(silent).find("#CHALLENGE#"), std::string::npos);
  EXPECT_EQ(ReadFrame(silent), "<eof>");
  ::close(silent);
  EXPECT_EQ(WaitChild(good), 0);
}

// Garbage instead of the protocol: each is refused with a clear message,
// and a good client afterwards is served.
TEST(Listener, GarbageFramesAreRefused) {
  const std::string address = shoal::AbstractAddress(UniqueName("garbage"));
  shoal::ListenerOptions opts;
  opts.handshake_timeout = seconds(30);
  shoal::Listener listener(address, "k", opts);
  struct Case {
    std::string bytes;
    std::string expect;  // in the AuthenticationError's message
  };
  std::string minus_one_huge("\xff\xff\xff\xff", 4);
  uint64_t huge = htobe64(uint64_t{1} << 40);
  minus_one_huge.append(reinterpret_cast<const char*>(&huge), 8);
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\n\r\n", "a message of"},
      {std::string("\xff\xff\xff\xfe", 4), "length header -2"},
      {minus_one_huge, "a message of 1099511627776 bytes"},
      {Frame(std::string(16, 'x')), "digest received was wrong"},
      {Frame("{sha256}short"), "digest received was wrong"},
      {Frame("{nosuch}0123456789012345678901234567890123"), "malformed"},
      {std::string("\x00\x00", 2), "closed the connection"},
  };
  for (const Case& k : cases) {
    int fd = RawConnect(address);
    ASSERT_GE(fd, 0);
    WriteAllFd(fd, k.bytes);
    shutdown(fd, SHUT_WR);
    try {
      listener.accept(seconds(20));
      ADD_FAILURE() << "accepted garbage " << k.expect;
    } catch (const shoal::AuthenticationError& e) {
      EXPECT_NE(std::string(e.what()).find(k.expect), std::string::npos)
          << e.what();
    }
    ::close(fd);
  }
  EXPECT_EQ(listener.refused(), cases.size());
  pid_t good = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "k", seconds(20));
    return 0;
  });
  shoal::Connection c = listener.accept(seconds(20));
  EXPECT_EQ(listener.last_accepted().pid, good);
  EXPECT_EQ(WaitChild(good), 0);
}

// The client side: a listener with another key, a server that never
// answers, a server that sends garbage, a full backlog.
TEST(Client, RefusedKeySilentServerGarbageAndFullBacklog) {
  const std::string address = shoal::AbstractAddress(UniqueName("cli"));
  {
    shoal::Listener listener(address, "server key", Patient());
    pid_t child = StartChild([&] {
      try {
        shoal::Listener* l = &listener;
        l->accept(seconds(10));
        return 1;
      } catch (const shoal::AuthenticationError&) {
        return 0;
      }
    });
    try {
      shoal::Client(address, "client key", seconds(10));
      ADD_FAILURE() << "expected AuthenticationError";
    } catch (const shoal::AuthenticationError& e) {
      EXPECT_NE(std::string(e.what()).find("digest sent was rejected"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(WaitChild(child), 0);
  }
  // A raw server that accepts and says nothing: the client's deadline holds.
  int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address.data(), address.size());
  socklen_t len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&sa), len), 0);
  ASSERT_EQ(listen(srv, 0), 0);
  {
    const auto start = Clock::now();
    EXPECT_THROW(shoal::Client(address, "k", milliseconds(200)),
                 shoal::TimeoutError);
    EXPECT_GE(Clock::now() - start, milliseconds(200));
    int a = ::accept(srv, nullptr, nullptr);
    ASSERT_GE(a, 0);
    ::close(a);
  }
  // A server that answers with garbage.
  {
    pid_t child = StartChild([&] {
      int a = ::accept(srv, nullptr, nullptr);
      WriteAllFd(a, Frame("#NOT-A-CHALLENGE#0123456789012345678901"));
      char buf[64];
      while (recv(a, buf, sizeof(buf), 0) > 0) {
      }
      return 0;
    });
    try {
      shoal::Client(address, "k", seconds(10));
      ADD_FAILURE() << "expected AuthenticationError";
    } catch (const shoal::AuthenticationError& e) {
      EXPECT_NE(std::string(e.what()).find("expected a challenge"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(WaitChild(child), 0);
  }
  // Backlog 0 holds one unaccepted connection; the next connect waits for
  // room, bounded by its deadline.
  int first = RawConnect(address);
  ASSERT_GE(first, 0);
  const auto start = Clock::now();
  EXPECT_THROW(shoal::Client(address, "k", milliseconds(200)),
               shoal::TimeoutError);
  EXPECT_GE(Clock::now() - start, milliseconds(150));
  ::close(first);
  ::close(srv);
}

// Shared objects over a connection to a fork()ed process that did not
// inherit them (it was forked before they existed).
TEST(SendHandle, QueueChannelAndFdToAForkThatDidNotInheritThem) {
  const std::string address = shoal::AbstractAddress(UniqueName("fdpass"));
  shoal::Listener listener(address, "k", Patient());
  pid_t child = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "k", seconds(20));
    auto q = c.recv_handle<shoal::Queue<std::string>>(seconds(20));
    auto ch = c.recv_handle<shoal::Channel<int>>(seconds(20));
    int pipe_w = c.recv_fd(seconds(20));
    for (int i = 0; i < 100; ++i) q.put("item " + std::to_string(i));
    ch.send(std::vector<int>{4, 5, 6});
    (void)!write(pipe_w, "via fd", 6);
    ::close(pipe_w);
    // A handle message without its descriptor, and a plain message read
    // as a handle, are refused.
    try {
      c.recv_handle<shoal::Queue<std::string>>(seconds(20));
      return 20;
    } catch (const shoal::ValueError&) {
    }
    return 0;
  });
  // Created after the fork: the child has no mapping and no descriptor.
  shoal::Queue<std::string> q(200);
  shoal::Channel<int> ch(16);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  shoal::Connection c = listener.accept(seconds(20));
  c.send_handle(q);
  c.send_handle(ch);
  c.send_fd(p[1]);
  ::close(p[1]);
  c.send_bytes(std::string_view("not a handle"));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(q.get(seconds(20)), "item " + std::to_string(i));
  }
  EXPECT_EQ(ch.recv(seconds(20)), (std::vector<int>{4, 5, 6}));
  char buf[16] = {};
  ASSERT_EQ(read(p[0], buf, sizeof(buf)), 6);
  EXPECT_EQ(std::string(buf, 6), "via fd");
  EXPECT_EQ(read(p[0], buf, sizeof(buf)), 0) << "the child closed its copy";
  ::close(p[0]);
  EXPECT_EQ(WaitChild(child), 0);
}

TEST(SendHandle, WrongTypeAnonymousRegionAndPipe) {
  auto [a, b] = shoal::Pipe();
  shoal::Queue<int> q(8);
  a.send_handle(q);
  EXPECT_THROW(b.recv_handle<shoal::Queue<double>>(seconds(5)),
               shoal::InvalidRegion);
  // A region this process already maps is reused, not mapped again.
  a.send_handle(q);
  auto same = b.recv_handle<shoal::Queue<int>>(seconds(5));
  same.put(5);
  EXPECT_EQ(q.get(seconds(5)), 5);
  EXPECT_EQ(&same.region().header(), &q.region().header());

  shoal::QueueOptions anon;
  anon.region.kind = shoal::RegionKind::kAnonymous;
  shoal::Queue<int> anonymous(anon);
  EXPECT_THROW(a.send_handle(anonymous), shoal::ValueError);

  auto [r, w] = shoal::Pipe(/*duplex=*/false);
  EXPECT_THROW(w.send_handle(q), shoal::ValueError);

  // A named region travels by descriptor too.
  shoal::QueueOptions named;
  named.region.kind = shoal::RegionKind::kNamed;
  shoal::Queue<int> nq(named);
  a.send_handle(nq);
  pid_t child = StartChild([&] {
    auto got = b.recv_handle<shoal::Queue<int>>(seconds(5));
    got.put(99);
    return 0;
  });
  EXPECT_EQ(nq.get(seconds(20)), 99);
  EXPECT_EQ(WaitChild(child), 0);
}

// An exec'd program (nothing inherited, no names agreed) receives a Queue
// and a Channel over a Listener connection and fills them.
TEST(SendHandle, ExecdUnrelatedProcess) {
  const std::string name = UniqueName("exec");
  shoal::Listener listener(shoal::AbstractAddress(name), "exec key",
                          Patient());
  shoal::Queue<int> q(2000);
  shoal::Channel<double> ch(1000);
  const std::string peer = Runfile("tests/ipc/listener_peer");
  std::string at = "@" + name;
  char* argv[] = {const_cast<char*>(peer.c_str()), at.data(),
                  const_cast<char*>("exec key"), nullptr};
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, peer.c_str(), nullptr, nullptr, argv, environ),
            0);
  shoal::Connection c = listener.accept(seconds(30));
  EXPECT_EQ(listener.last_accepted().pid, pid);
  c.send_handle(q);
  c.send_handle(ch);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(q.get(seconds(30)), i);
  auto block = ch.recv(seconds(30));
  ASSERT_EQ(block.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(block[i], i * 0.5);
  EXPECT_EQ(c.recv_bytes(shoal::Connection::kNoLimit, seconds(30)), "done");
  c.close();
  EXPECT_EQ(WaitChild(pid), 0);
}

// An accepted connection handed to a worker Process keeps Python framing
// (the client on the other end speaks it).
void ServeOne(shoal::Connection c) {
  std::string m = c.recv_bytes(shoal::Connection::kNoLimit, seconds(20));
  c.send_bytes("worker got " + m);
}

TEST(Listener, AcceptedConnectionPassedToAProcess) {
  const std::string address = shoal::AbstractAddress(UniqueName("handoff"));
  shoal::Listener listener(address, "k", Patient());
  pid_t client = StartChild([&] {
    shoal::Connection c = shoal::Client(address, "k", seconds(20));
    c.send_bytes(std::string_view("job"));
    return c.recv_bytes(shoal::Connection::kNoLimit, seconds(20)) ==
                   "worker got job"
               ? 0
               : 1;
  });
  shoal::Connection c = listener.accept(seconds(20));
  shoal::Process worker(ServeOne, std::move(c));
  worker.start();
  worker.join();
  EXPECT_EQ(worker.exitcode(), 0);
  EXPECT_EQ(WaitChild(client), 0);
}

// ---------------------------------------------------------------------------
// Python framing and the handshake state machine, without processes.

TEST(PythonFraming, WireFormatAndLongHeader) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  shoal::Connection a(sv[0], true, true, shoal::Connection::Framing::kPython);
  a.send_bytes(std::string_view("hey"));
  char raw[7];
  ASSERT_EQ(recv(sv[1], raw, 7, MSG_WAITALL), 7);
  EXPECT_EQ(std::string(raw, 7), std::string("\x00\x00\x00\x03hey", 7));
  // The -1 + 8-byte form Python uses above 2 GiB - 1, on a short message.
  std::string longform("\xff\xff\xff\xff", 4);
  uint64_t be = htobe64(3);
  longform.append(reinterpret_cast<const char*>(&be), 8);
  longform += "abc";
  WriteAllFd(sv[1], longform);
  EXPECT_EQ(a.recv_bytes(shoal::Connection::kNoLimit, seconds(5)), "abc");
  // A negative length other than -1 is garbage: ValueError, unreadable.
  WriteAllFd(sv[1], std::string("\xff\xff\xff\xf0", 4));
  EXPECT_THROW(a.recv_bytes(shoal::Connection::kNoLimit, seconds(5)),
               shoal::ValueError);
  EXPECT_FALSE(a.readable());
  ::close(sv[1]);
}

using shoal::internal::AuthHandshake;

// Runs two handshakes against each other until neither moves.
void Converse(AuthHandshake& s, AuthHandshake& c) {
  for (int round = 0; round < 20; ++round) {
    for (auto [from, to] : {std::pair{&s, &c}, std::pair{&c, &s}}) {
      std::string out(from->output());
      from->Wrote(out.size());
      size_t pos = 0;
      while (pos < out.size() && to->want() > 0) {
        size_t take = std::min(to->want(), out.size() - pos);
        to->Feed(out.data() + pos, take);
        pos += take;
      }
    }
  }
}

TEST(AuthHandshake, SameKeySucceedsOtherKeyFailsOnBothSides) {
  AuthHandshake s(AuthHandshake::Role::kServer, "k", AuthHandshake::Random());
  AuthHandshake c(AuthHandshake::Role::kClient, "k", AuthHandshake::Random());
  Converse(s, c);
  EXPECT_EQ(s.state(), AuthHandshake::State::kDone) << s.error();
  EXPECT_EQ(c.state(), AuthHandshake::State::kDone) << c.error();

  AuthHandshake s2(AuthHandshake::Role::kServer, "k", AuthHandshake::Random());
  AuthHandshake c2(AuthHandshake::Role::kClient, "x", AuthHandshake::Random());
  Converse(s2, c2);
  EXPECT_EQ(s2.state(), AuthHandshake::State::kFailed);
  EXPECT_EQ(c2.state(), AuthHandshake::State::kFailed);
  EXPECT_TRUE(c2.rejected_by_peer());
  EXPECT_FALSE(s2.rejected_by_peer());
}

// Python 3.11's answer to our "{sha256}..." challenge is the raw HMAC-MD5
// of all of it; Python 3.11's own challenge is 20 bare random bytes, which
// we answer with a raw HMAC-MD5.
TEST(AuthHandshake, LegacyMd5BothWays) {
  const std::string random(AuthHandshake::kChallengeRandomBytes, 'r');
  AuthHandshake s(AuthHandshake::Role::kServer, "key", random);
  std::string challenge(s.output());
  s.Wrote(challenge.size());
  EXPECT_EQ(challenge, Frame("#CHALLENGE#{sha256}" + random));
  std::string answer = Frame(shoal::internal::Hmac(
      "md5", "key", "{sha256}" + random));
  s.Feed(answer.data(), answer.size());
  EXPECT_EQ(std::string(s.output()), Frame("#WELCOME#"));

  AuthHandshake c(AuthHandshake::Role::kClient, "key", random);
  const std::string legacy(20, 'L');
  std::string in = Frame("#CHALLENGE#" + legacy);
  c.Feed(in.data(), in.size());
  EXPECT_EQ(std::string(c.output()),
            Frame(shoal::internal::Hmac("md5", "key", legacy)));
  EXPECT_EQ(shoal::internal::Hmac("md5", "key", legacy).size(), 16u);
  EXPECT_EQ(shoal::internal::Hmac("sha3_384", "key", legacy).size(), 48u);
  EXPECT_EQ(shoal::internal::Hmac("sha1", "key", legacy), "");
}

// ---------------------------------------------------------------------------
// Interoperation with CPython's multiprocessing.connection.

struct Spawned {
  pid_t pid = -1;
  int out = -1;  // its stdout
};

Spawned SpawnPython(const std::vector<std::string>& args) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  std::vector<std::string> all = {"/usr/bin/python3",
                                  Runfile("tests/ipc/listener_interop.py")};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : all) argv.push_back(s.data());
  argv.push_back(nullptr);
  Spawned s;
  if (posix_spawn(&s.pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
    s.pid = -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  s.out = p[0];
  return s;
}

// One line of the child's stdout, waiting at most 30 s.
std::string ReadLine(int fd) {
  std::string line;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 30000) <= 0) return line + "<timeout>";
    char c;
    if (read(fd, &c, 1) != 1) return line;
    if (c == '\n') return line;
    line.push_back(c);
  }
}

bool HavePython() { return access("/usr/bin/python3", X_OK) == 0; }

TEST(PythonInterop, ShoalClientToPythonListener) {
  if (!HavePython()) GTEST_SKIP() << "no /usr/bin/python3";
  for (const std::string& address :
       {shoal::AbstractAddress(UniqueName("py-l")), TempPath("pyl")}) {
    ::unlink(address.c_str());
    std::string arg = address[0] == '\0' ? "@" + address.substr(1) : address;
    Spawned py = SpawnPython({"listen", arg, "py key"});
    ASSERT_GT(py.pid, 0);
    ASSERT_EQ(ReadLine(py.out), "ready");
    shoal::Connection c = shoal::Client(address, "py key", seconds(20));
    for (const std::string& m :
         {std::string("hello"), std::string(), std::string(100000, 'x'),
          std::string("\x00\xff", 2)}) {
      c.send_bytes(m);
      std::string r = c.recv_bytes(shoal::Connection::kNoLimit, seconds(20));
      EXPECT_EQ(r, std::string(m.rbegin(), m.rend()));
    }
    c.close();
    EXPECT_EQ(WaitChild(py.pid), 0);
    ::close(py.out);
  }
}

TEST(PythonInterop, PythonClientToShoalListener) {
  if (!HavePython()) GTEST_SKIP() << "no /usr/bin/python3";
  const std::string name = UniqueName("py-c");
  shoal::Listener listener(shoal::AbstractAddress(name), "py key",
                          Patient());
  Spawned py = SpawnPython({"client", "@" + name, "py key"});
  ASSERT_GT(py.pid, 0);
  shoal::Connection c = listener.accept(seconds(30));
  EXPECT_EQ(listener.last_accepted().pid, py.pid);
  EchoUntilEof(c);
  EXPECT_EQ(WaitChild(py.pid), 0);
  ::close(py.out);

  // Without an authkey on both sides (Python's authkey=None).
  shoal::Listener open_listener(shoal::AbstractAddress(name + "-open"));
  py = SpawnPython({"client", "@" + name + "-open", "-"});
  shoal::Connection c2 = open_listener.accept(seconds(30));
  EchoUntilEof(c2);
  EXPECT_EQ(WaitChild(py.pid), 0);
  ::close(py.out);
}

TEST(PythonInterop, WrongKeysRefusedBothWays) {
  if (!HavePython()) GTEST_SKIP() << "no /usr/bin/python3";
  const std::string name = UniqueName("py-bad");
  {
    // A Python client with the wrong key: refused by shoal, and Python
    // raises AuthenticationError (exit code 3).
    shoal::Listener listener(shoal::AbstractAddress(name), "shoal key",
                            Patient());
    Spawned py = SpawnPython({"client", "@" + name, "other key"});
    EXPECT_THROW(listener.accept(seconds(30)), shoal::AuthenticationError);
    EXPECT_EQ(ReadLine(py.out).substr(0, 10), "auth-error");
    EXPECT_EQ(WaitChild(py.pid), 3);
    ::close(py.out);
  }
  {
    // A shoal client with the wrong key against a Python listener.
    Spawned py = SpawnPython({"listen", "@" + name, "python key"});
    ASSERT_EQ(ReadLine(py.out), "ready");
    EXPECT_THROW(shoal::Client(shoal::AbstractAddress(name), "other key",
                               seconds(20)),
                 shoal::AuthenticationError);
    EXPECT_EQ(ReadLine(py.out).substr(0, 10), "auth-error");
    EXPECT_EQ(WaitChild(py.pid), 3);
    ::close(py.out);
  }
}

}  // namespace
