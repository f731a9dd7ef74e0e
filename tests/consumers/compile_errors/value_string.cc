// expect: shoal::Value<T> keeps T in shared memory as raw bytes
#include <string>
#include <shoal/ipc/value.h>
int main() {
  shoal::Value<std::string> v("x");
  return v.load().size();
}
