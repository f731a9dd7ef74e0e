// expect: shoal::Array<T>: T holds a raw pointer
#include <shoal/ipc/array.h>
int main() {
  shoal::Array<const char*> names(4);
}
