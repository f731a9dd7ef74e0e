// expect: shoal: this type holds a raw pointer
#include <shoal/ipc/connection.h>
struct Reply { int code; char* text; };
int main() {
  auto [a, b] = shoal::Pipe();
  return b.recv<Reply>().code;
}
