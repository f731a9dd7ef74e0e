// expect: shoal: this type holds a raw pointer, a member pointer or a view
#include <string_view>
#include <shoal/ipc/queue.h>
struct Event { std::string_view what; int n; };
int main() {
  shoal::Queue<Event> q;
  q.put(Event{"x", 1});
  return q.get().n;
}
