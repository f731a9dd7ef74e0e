// A process unrelated to the test that starts it (exec'd, not forked): it
// connects to a Listener and receives shared objects over the connection,
// with nothing inherited and no names agreed on.
//
//   listener_peer ADDRESS KEY
//
// ADDRESS starting with '@' means the abstract address of the rest. It
// receives a Queue<int>, a Channel<double> and a Shared region's fd, puts
// 0..999 on the queue, sends one block of 1000 doubles (i * 0.5) on the
// channel, then sends "done" and waits for the server to close.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "shoal/ipc/channel.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/listener.h"
#include "shoal/ipc/queue.h"

int main(int argc, char** argv) {
  alarm(60);
  if (argc != 3) {
    std::fprintf(stderr, "usage: listener_peer ADDRESS KEY\n");
    return 2;
  }
  std::string address = argv[1];
  if (!address.empty() && address[0] == '@') {
    address = shoal::AbstractAddress(address.substr(1));
  }
  try {
    shoal::Connection c =
        shoal::Client(address, argv[2], std::chrono::seconds(20));
    auto q = c.recv_handle<shoal::Queue<int>>(std::chrono::seconds(20));
    auto ch = c.recv_handle<shoal::Channel<double>>(std::chrono::seconds(20));
    for (int i = 0; i < 1000; ++i) q.put(i);
    auto loan = ch.loan(1000, std::chrono::seconds(20));
    for (int i = 0; i < 1000; ++i) loan[i] = i * 0.5;
    loan.publish();
    c.send_bytes(std::string_view("done"));
    // Stay until the server has read everything and closes.
    try {
      c.recv_bytes(shoal::Connection::kNoLimit, std::chrono::seconds(20));
    } catch (const shoal::EOFError&) {
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "listener_peer: %s\n", e.what());
    return 1;
  }
}
