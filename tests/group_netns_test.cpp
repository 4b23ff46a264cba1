// Five `nexo group join` processes in five network namespaces joined by a
// bridge, which this test makes and removes: every message through 10% loss,
// duplication and reordering delivered once, in FIFO order, everywhere (the
// run prints its seed). Needs root; skips without it, and under CI=true fails
// instead (skip_or_fail.hpp). Nothing leaves the namespaces; they are removed
// whatever happens.
#include "group_process_support.hpp"

namespace {

// --- five network namespaces joined by a bridge -----------------------------

bool sh(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Namespaces gdN-<pid>-<i> (members, 10.79.0.i+1/24 on eth0) and gdN-<pid>-br
// (the bridge), made by the constructor and removed by the destructor.
class Bridged {
 public:
  Bridged() {
    if (::geteuid() != 0) {
      failure_ = "needs root to create network namespaces";
      return;
    }
    const std::string base = "gdn-" + std::to_string(::getpid());
    bridge_ = base + "-br";
    if (!make(bridge_) || !in(bridge_, "ip link add br0 type bridge") ||
        !in(bridge_, "ip link set br0 type bridge mcast_snooping 0") ||
        !in(bridge_, "ip link set br0 up")) {
      failure_ = "could not make the bridge namespace " + bridge_;
      return;
    }
    for (int i = 0; i < kMembers; ++i) {
      const std::string ns = base + "-" + std::to_string(i);
      const std::string port = "p" + std::to_string(i);
      const std::string address = "10.79.0." + std::to_string(i + 1) + "/24";
      if (!make(ns) ||
          !sh("ip link add " + port + " netns " + bridge_ + " type veth peer name eth0 netns " +
              ns) ||
          !in(bridge_, "ip link set " + port + " master br0") ||
          !in(bridge_, "ip link set " + port + " up") || !in(ns, "ip link set lo up") ||
          !in(ns, "ip addr add " + address + " dev eth0") || !in(ns, "ip link set eth0 up")) {
        failure_ = "could not make member namespace " + ns;
        return;
      }
      Placement s;
      s.prefix = {"ip", "netns", "exec", ns};
      s.interface = "eth0";
      setups_.push_back(s);
    }
  }
  ~Bridged() {
    for (const auto& ns : made_)
      sh("ip netns del " + ns);
  }
  const std::string& failure() const { return failure_; }
  const std::vector<Placement>& setups() const { return setups_; }

 private:
  bool make(const std::string& ns) {
    if (!sh("ip netns add " + ns)) return false;
    made_.push_back(ns);
    return true;
  }
  static bool in(const std::string& ns, const std::string& command) {
    return sh("ip netns exec " + ns + " " + command);
  }

  std::string bridge_;
  std::vector<std::string> made_;
  std::vector<Placement> setups_;
  std::string failure_;
};

TEST(GroupNetns, FiveMembersInNamespacesJoinedByABridge) {
  Bridged network;
  if (!network.failure().empty()) NEXO_SKIP_OR_FAIL(network.failure());
  run_five("fifo", network.setups(), "netns");
}

}  // namespace
