#include "shoal/pool/internal/identity.h"

#include <atomic>
#include <utility>

namespace shoal::internal {
namespace {

Identity& Mutable() {
  static Identity* id = new Identity;
  return *id;
}

std::atomic<int> g_children{0};

}  // namespace

const Identity& CurrentIdentity() { return Mutable(); }

void BecomeChild(std::string name, bool daemon, std::vector<int> id,
                 pid_t parent_pid, std::string parent_name) {
  Identity& me = Mutable();
  me.name = std::move(name);
  me.daemon = daemon;
  me.id = std::move(id);
  me.parent_pid = parent_pid;
  me.parent_name = std::move(parent_name);
  g_children.store(0, std::memory_order_relaxed);
}

int NextChildNumber() {
  return g_children.fetch_add(1, std::memory_order_relaxed) + 1;
}

std::string IdentitySuffix(const std::vector<int>& id) {
  std::string s;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i != 0) s += ':';
    s += std::to_string(id[i]);
  }
  return s;
}

}  // namespace shoal::internal
