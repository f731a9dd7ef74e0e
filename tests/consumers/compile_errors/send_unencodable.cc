// expect: shoal: this type cannot be encoded
#include <map>
#include <shoal/ipc/connection.h>
class Opaque { int secret_ = 0; public: Opaque() = default; virtual ~Opaque() = default; };
int main() {
  auto [a, b] = shoal::Pipe();
  a.send(Opaque());
}
