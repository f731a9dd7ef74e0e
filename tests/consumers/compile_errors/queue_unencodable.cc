// expect: shoal: this type cannot be encoded. Give it a member .*serialize
#include <string>
#include <shoal/ipc/queue.h>
struct Msg { std::string name; int n; };
int main() {
  shoal::Queue<Msg> q;
  q.put(Msg{"a", 1});
  return q.get().n;
}
