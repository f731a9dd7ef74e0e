// expect: shoal: every argument must be Encodable
// errors: 5 (the first is the static_assert; the pool's call path, in
// pool/internal/callable.h, does not yet stop at it as Queue<T> does)
#include <string>
#include <shoal/pool/pool.h>
struct Msg { std::string name; };
int size(Msg m) { return static_cast<int>(m.name.size()); }
int main() {
  shoal::Pool pool(1);
  return pool.apply(size, Msg{"x"});
}
