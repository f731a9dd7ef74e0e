// Copyright 2026 The shoal Authors.
#include "bench/shootout/peer_links.h"

#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "bench/shootout/shootout.h"
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/mepoo/chunk_header.hpp"

namespace shoal::shootout {

namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::string TmpDir() {
  const char* t = std::getenv("TMPDIR");
  std::string d = (t != nullptr && *t != '\0') ? t : "/tmp";
  // ipc:// paths must fit a sockaddr_un (108 bytes).
  if (d.size() > 60) d = "/tmp";
  return d;
}

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

// ------------------------------------------------------------------ zmq

ZmqLink::ZmqLink(const Spec& s, bool poll) : buf_(s), poll_(poll) {
  path_ = TmpDir() + "/shoal-shootout-" + s.tag + ".ipc";
  unlink(path_.c_str());
}

ZmqLink::~ZmqLink() { unlink(path_.c_str()); }

void ZmqLink::Attach(int side) {
  ctx_.emplace(1);
  sock_.emplace(*ctx_, zmq::socket_type::pair);
  // The last message (the stop marker) must get out before close().
  sock_->set(zmq::sockopt::linger, 2000);
  if (side == 1) sock_->bind("ipc://" + path_);
}

void ZmqLink::Ready(int side) {
  if (side == 0) sock_->connect("ipc://" + path_);
}

void ZmqLink::Detach(int) {
  sock_.reset();
  ctx_.reset();
}

// --------------------------------------------------------------- RouDi

std::string RouDi::Unavailable() {
  if (FindOnPath("iox-roudi").empty()) {
    return "iox-roudi not found: install the Debian packages iceoryx "
           "libiceoryx-posh-dev";
  }
  if (Exists("/dev/shm/iceoryx_mgmt") || Exists("/tmp/roudi")) {
    return "another iceoryx RouDi seems to be running (/dev/shm/iceoryx_mgmt "
           "or /tmp/roudi exists); iceoryx 2.0 allows one per machine";
  }
  return "";
}

std::string RouDi::Start(const std::vector<std::size_t>& sizes,
                         std::size_t (*depth)(std::size_t),
                         const std::string& dir) {
  std::string why = Unavailable();
  if (!why.empty()) return why;
  const std::string exe = FindOnPath("iox-roudi");

  // Mempools: one per message size, enough chunks for a full subscriber
  // queue, the chunks in flight and the ones held by both sides.
  std::set<std::size_t> chunk_sizes;
  std::string cfg = "[general]\nversion = 1\n\n[[segment]]\n\n";
  std::vector<std::size_t> sorted = sizes;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t s : sorted) {
    const std::size_t chunk = (s + 1024 + 63) / 64 * 64;  // + chunk header
    if (!chunk_sizes.insert(chunk).second) continue;
    const std::size_t q = std::min<std::size_t>(depth(s), 256);
    const std::size_t count = 2 * q + 64;
    cfg += "[[segment.mempool]]\nsize = " + std::to_string(chunk) +
           "\ncount = " + std::to_string(count) + "\n\n";
  }
  const std::string cfg_path = dir + "/roudi.toml";
  log_ = dir + "/roudi.log";
  {
    std::ofstream f(cfg_path);
    f << cfg;
    if (!f) return "cannot write " + cfg_path;
  }

  // What a RouDi creates; whatever does not exist now is ours to remove.
  std::string group = "root";
  if (struct group* g = getgrgid(getegid())) group = g->gr_name;
  created_.clear();
  for (const std::string& p :
       {std::string("/dev/shm/iceoryx_mgmt"), "/dev/shm/" + group,
        std::string("/tmp/roudi"), std::string("/tmp/roudi.lock"),
        std::string("/tmp/iox-unique-roudi.lock")}) {
    if (!Exists(p)) created_.push_back(p);
  }

  std::fflush(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // it cleans up on SIGTERM
    if (getppid() != parent) _exit(0);
    FILE* f = std::freopen(log_.c_str(), "w", stdout);
    if (f != nullptr) dup2(fileno(stdout), 2);
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) dup2(fd, 0);
    execl(exe.c_str(), exe.c_str(), "-c", cfg_path.c_str(), "-l", "warning",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  for (int i = 0; i < 1000; ++i) {  // 10 s
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    if (ss.str().find("RouDi is ready for clients") != std::string::npos) {
      return "";
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string tail = ss.str();
      if (tail.size() > 300) tail = tail.substr(tail.size() - 300);
      Stop();
      return "iox-roudi exited at start: " + tail;
    }
    SleepMs(10);
  }
  Stop();
  return "iox-roudi did not become ready within 10 s (see " + log_ + ")";
}

std::string RouDi::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    bool gone = false;
    for (int i = 0; i < 1000 && !gone; ++i) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        gone = true;
      } else {
        SleepMs(10);
      }
    }
    if (!gone) {
      kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  std::string cleaned;
  for (const std::string& p : created_) {
    if (Exists(p)) {
      unlink(p.c_str());
      cleaned += (cleaned.empty() ? "" : " ") + p;
    }
  }
  created_.clear();
  return cleaned;
}

// --------------------------------------------------------------- iceoryx

namespace {

iox::capro::ServiceDescription Service(const Spec& s, int dir) {
  const std::string inst = "shootout-" + s.tag;
  const std::string ev = "d" + std::to_string(dir);
  return iox::capro::ServiceDescription(
      iox::capro::IdString_t(iox::cxx::TruncateToCapacity, "shoal"),
      iox::capro::IdString_t(iox::cxx::TruncateToCapacity, inst.c_str()),
      iox::capro::IdString_t(iox::cxx::TruncateToCapacity, ev.c_str()));
}

}  // namespace

void InitIceoryxRuntime(const std::string& name) {
  // The client library logs at verbose level by default and announces the
  // level change and the RouDi hand-shake on stderr: muted while the
  // runtime starts, so the progress line stays clean (a failure still
  // shows up in the row, as the child's exit status).
  std::fflush(stderr);
  const int saved = dup(2);
  const int null = open("/dev/null", O_WRONLY);
  if (null >= 0) dup2(null, 2);
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn);
  iox::runtime::PoshRuntime::initRuntime(
      iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.c_str()));
  std::clog.flush();
  std::cerr.flush();
  if (saved >= 0) {
    dup2(saved, 2);
    close(saved);
  }
  if (null >= 0) close(null);
}

void IceoryxLink::Attach(int side) {
  InitIceoryxRuntime("shoal-shootout-" + spec_.tag + "-" + std::to_string(side));
  const uint64_t q = std::min<uint64_t>(spec_.round_trip ? 16 : spec_.depth, 256);
  if (spec_.round_trip || side == 0) {
    iox::popo::PublisherOptions po;
    po.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
    pub_.emplace(Service(spec_, side), po);
  }
  if (spec_.round_trip || side == 1) {
    iox::popo::SubscriberOptions so;
    so.queueCapacity = q;
    so.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
    sub_.emplace(Service(spec_, 1 - side), so);
    if (poll_) return;  // no WaitSet: Recv() polls take()
    ws_.emplace();
    if (ws_->attachState(*sub_, iox::popo::SubscriberState::HAS_DATA).has_error()) {
      Fail("iceoryx: WaitSet::attachState failed");
    }
  }
}

void IceoryxLink::Ready(int) {
  if (!pub_) return;
  for (int i = 0; i < 10000; ++i) {  // 10 s
    if (pub_->hasSubscribers()) return;
    SleepMs(1);
  }
  Fail("iceoryx: the subscriber did not connect within 10 s");
}

void IceoryxLink::Detach(int) {
  ws_.reset();
  sub_.reset();
  pub_.reset();
}

void IceoryxLink::Send(int, uint64_t seq) {
  const std::size_t words = spec_.size / 8;
  for (int attempt = 0;; ++attempt) {
    auto r = pub_->loan(static_cast<uint32_t>(spec_.size), 8);
    if (!r.has_error()) {
      auto* p = static_cast<uint64_t*>(r.value());
      Stamp(p, words, seq);
      pub_->publish(p);
      return;
    }
    if (attempt > 5000) Fail("iceoryx: loan failed (mempool exhausted?)");
    SleepMs(1);
  }
}

uint64_t IceoryxLink::Recv(int) {
  const std::size_t words = spec_.size / 8;
  PollWait w;
  for (;;) {
    auto r = sub_->take();
    if (!r.has_error()) {
      const void* p = r.value();
      const auto* h = iox::mepoo::ChunkHeader::fromUserPayload(p);
      const uint64_t s = h->userPayloadSize() == spec_.size
                             ? Check(static_cast<const uint64_t*>(p), words)
                             : kBadSeq;
      sub_->release(p);
      return s;
    }
    if (poll_) {
      w.Wait();
    } else {
      ws_->wait();
    }
  }
}

}  // namespace shoal::shootout
