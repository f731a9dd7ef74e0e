// Fuzz target: Connection's frame parsing (ipc/connection.h). The input is
// the byte stream a peer sent, then the peer closes. The first byte picks how
// the reader reads (recv_bytes with a maxlength, recv_bytes_into a small
// buffer, recv<T> through the codec). Contract: messages or shoal errors
// (EOFError at the end, ValueError, BufferTooShort, CodecError), never a
// crash, never a hang, never an allocation beyond max_message_size.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "shoal/base/errors.h"
#include "shoal/ipc/connection.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  ++data;
  --size;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  // Inputs are small (libFuzzer's -max_len); a socket buffer holds them.
  size_t off = 0;
  while (off < size) {
    ssize_t n = write(sv[1], data + off, size - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(sv[1]);
  shoal::Connection conn(sv[0], true, true);
  conn.set_max_message_size(1 << 20);
  for (int i = 0; i < 64; ++i) {
    try {
      switch ((mode + i) % 4) {
        case 0:
          conn.recv_bytes(mode & 0x3f);
          break;
        case 1: {
          std::vector<std::byte> buf(mode % 17);
          conn.recv_bytes_into(buf, mode % 3);
          break;
        }
        case 2:
          conn.recv<std::vector<std::string>>();
          break;
        default:
          conn.poll();
          conn.recv_bytes();
          break;
      }
    } catch (const shoal::EOFError&) {
      break;
    } catch (const shoal::Error&) {
      if (!conn.readable()) break;
    }
  }
  return 0;
}
