// expect: shoal::Value<T>: T holds a raw pointer
#include <shoal/ipc/value.h>
struct Cursor { int* at; };
int main() {
  shoal::Value<Cursor> v;
  return v.load().at != nullptr;
}
