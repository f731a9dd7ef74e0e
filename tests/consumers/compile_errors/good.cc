// expect: compiles
// What the checks must keep accepting.
#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <shoal/shoal.h>

struct Point { double x, y; };
struct Ok { int a; double b[3]; Point p; std::array<float, 4> f; };
// A fixed-size string constructible from a pointer is not a pointer.
struct Fixed {
  char c[16] = {};
  Fixed() = default;
  Fixed(const char* s) { for (int i = 0; i < 15 && s[i]; ++i) c[i] = s[i]; }
};
struct Named { Fixed name; int n; };
// A pointer that the receiver can use (inherited through fork()): opted in.
struct Node { Node* next; int v; };
template <>
struct shoal::CodecTraits<Node> : shoal::MemcpyCodec<Node> {};
// cereal.
struct Person {
  std::string name;
  int age = 0;
  template <class Archive>
  void serialize(Archive& ar) { ar(name, age); }
};

int twice(Ok o) { return o.a * 2; }

int main() {
  shoal::Queue<Ok> q1;
  q1.put(Ok{});
  (void)q1.get();
  shoal::Queue<Named> q2;
  q2.put(Named{"x", 1});
  (void)q2.get();
  shoal::Queue<Node> q3;
  q3.put(Node{nullptr, 1});
  (void)q3.get();
  shoal::JoinableQueue<Person> q4;
  q4.put(Person{"ann", 3});
  (void)q4.get();
  shoal::SimpleQueue<std::vector<std::string>> q5;
  auto [a, b] = shoal::Pipe();
  a.send(std::string_view("a view is sent as a string"));
  a.send(std::span<const int>());
  a.send(Person{});
  (void)b.recv<std::string>();
  shoal::Value<Ok> v;
  shoal::Array<Point> arr(3);
  shoal::Channel<Point> ch(4);
  shoal::FloatChannel fch(8);
  shoal::Pool pool(1);
  (void)pool.apply(twice, Ok{});
}
