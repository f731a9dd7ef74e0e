// expect: shoal: this type holds a raw pointer
#include <shoal/ipc/queue.h>
struct Inner { double x; int* data; };
struct Outer { int id; Inner inner; };
int main() {
  shoal::JoinableQueue<Outer> q;
  q.put(Outer{});
  return q.get().id;
}
