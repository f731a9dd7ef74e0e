// expect: shoal: this type holds a raw pointer
#include <shoal/ipc/queue.h>
struct Job { int id; const char* name; };
int main() {
  shoal::Queue<Job> q;
  q.put(Job{1, "x"});
  return q.get().id;
}
