// pipe_adder: a client/server pair over a duplex shoal::Pipe.
//
// Shows Pipe(), a Connection passed to a child Process, send()/recv() of
// typed messages (a request is a pair of numbers or a pair of strings: a
// std::variant), and the shutdown recipe of the Python original: the client
// closes its end, the server's recv() throws shoal::EOFError and it leaves.
//
//   def adder(pipe):
//       server_p, client_p = pipe
//       client_p.close()
//       while True:
//           try:
//               x, y = server_p.recv()
//           except EOFError:
//               break
//           server_p.send(x + y)
//       print("Server done")
//
// Start method: EOF only comes once NO process holds the client end. A
// fork()ed child inherits every descriptor of its parent, the client end
// included (Python's example closes that copy in the child; in C++ the
// child's copy is not reachable from the target, which receives its own
// duplicates). So the server is started with the "spawn" context: a fresh
// process that holds nothing but the server end it was given.
//
//   bazel run //examples:pipe_adder
//   bazel run //examples:pipe_adder -- --requests=100000
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <variant>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"
#include "shoal/pool/context.h"
#include "shoal/pool/handles.h"
#include "shoal/pool/process.h"

ABSL_FLAG(int, requests, 1000, "extra numeric requests after the two classic ones");

namespace {

using Numbers = std::pair<double, double>;
using Strings = std::pair<std::string, std::string>;
using Request = std::variant<Numbers, Strings>;
using Reply = std::variant<double, std::string>;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

// The server process: adds until the client hangs up.
void adder(shoal::Connection server_p) {
  long served = 0;
  for (;;) {
    Request req;
    try {
      req = server_p.recv<Request>();
    } catch (const shoal::EOFError&) {
      break;  // the client closed its end
    }
    // x + y, for numbers and for strings.
    Reply result = std::visit([](const auto& xy) -> Reply {
      return xy.first + xy.second;
    }, req);
    server_p.send(result);
    ++served;
  }
  std::printf("Server done (%ld requests)\n", served);
  std::fflush(stdout);
}

void print(const Reply& r) {
  std::visit(Overloaded{[](double d) { std::printf("%g\n", d); },
                        [](const std::string& s) { std::printf("%s\n", s.c_str()); }},
             r);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  shoal::init(argc, argv);  // the spawned server runs adder() from here
  absl::ParseCommandLine(argc, argv);

  auto [server_p, client_p] = shoal::Pipe();  // duplex
  shoal::Process adder_p = shoal::get_context("spawn").Process(adder, server_p);
  adder_p.start();
  server_p.close();  // only the server uses its end

  // Some requests of the Python example.
  client_p.send(Request(Numbers{3, 4}));
  print(client_p.recv<Reply>());
  client_p.send(Request(Strings{"Hello", "World"}));
  print(client_p.recv<Reply>());

  // Many more, checked.
  const int n = absl::GetFlag(FLAGS_requests);
  int wrong = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    client_p.send(Request(Numbers{double(i), 2.0 * i}));
    if (std::get<double>(client_p.recv<Reply>()) != 3.0 * i) ++wrong;
  }
  const double us = std::chrono::duration<double, std::micro>(
                        std::chrono::steady_clock::now() - start).count();
  std::printf("%d more requests: %d wrong replies, %.1f us per round trip\n",
              n, wrong, n > 0 ? us / n : 0.0);
  std::fflush(stdout);

  client_p.close();  // the server sees EOF and leaves
  adder_p.join();
  std::printf("server exited with %d\n", *adder_p.exitcode());
  return wrong == 0 && *adder_p.exitcode() == 0 ? 0 : 1;
}
