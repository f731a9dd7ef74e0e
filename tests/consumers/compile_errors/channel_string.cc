// expect: shoal::Channel<T> hands over blocks of T in shared memory as raw bytes
#include <string>
#include <shoal/ipc/channel.h>
int main() {
  shoal::Channel<std::string> ch(10);
}
