// bench_mpi's MPIs: where their wrappers and launchers are, and the command
// line of each configuration. Each anchor runs the way its own documentation
// says to select a transport, with nothing tuned for speed:
//
// Open MPI 4.1 (Debian 12: openmpi-bin): mpirun.openmpi
//   --mca pml ob1               the point-to-point layer that uses the BTLs below
//                               (Debian's openmpi-mca-params.conf already
//                               excludes pml ucx; said again so the row means
//                               what it says on any machine)
//   --mca btl self,vader        shared memory, the way Open MPI's FAQ selects
//                               it; or
//   --mca btl self,tcp --mca btl_tcp_if_include lo
//                               TCP only, on loopback (the tcp BTL leaves lo
//                               out by default, for multi-host runs)
//   --mca oob_tcp_if_include lo its runtime's own connections on lo too
//   --allow-run-as-root         when run as root (it refuses otherwise)
//   --oversubscribe             when there are more ranks than cores: Open MPI
//                               then sees the node oversubscribed and sets
//                               mpi_yield_when_idle itself (ranks yield while
//                               they poll); with no more ranks than cores it
//                               spins, its default, and binds each rank to a
//                               core (its default for 2 ranks)
// MPICH 4.0 (Debian 12: mpich, device ch4:ucx, launcher hydra): mpirun.mpich
//   shared memory: no flag (ch4 sends between ranks of one node through its
//                  shm module by default); hydra binds nothing by default
//   TCP: MPIR_CVAR_NOLOCAL=1    every rank treated as on another node: no shm
//                               module, no node-aware collectives
//        UCX_TLS=tcp            and UCX, the network module, restricted to its
//                               tcp transport: with NOLOCAL alone UCX still
//                               moves local messages through its own shared
//                               memory (posix/cma; 1 us latency, not TCP)
//        UCX_NET_DEVICES=lo     on loopback
//   (Debian 12's MPICH is ch4:ucx only: no ch3:nemesis, no libfabric provider,
//   so MPIR_CVAR_CH3_NOLOCAL and FI_PROVIDER=tcp do not apply.)
//   more ranks than cores: MPIR_CVAR_POLLS_BEFORE_YIELD=1, the setting MPICH's
//   own CI uses for oversubscribed runs; MPICH has no oversubscription mode
//   (pmodels/mpich#7894 asks for one) and otherwise polls 1000 times between
//   yields.
// nexo: nexorun -n N (it runs more ranks than cores by default: an idle rank
//   blocks); TCP with NEXO_MPI_TRANSPORT=tcp in the environment.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <thread>

#include "bench_mpi.hpp"

namespace nexo::bench::mpi {
namespace {

bool executable(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

// `name` on PATH; empty when it is not there.
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    const auto dir = dirs.substr(0, colon);
    std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + name;
    if (executable(candidate)) return candidate;
    dirs.remove_prefix(colon == std::string_view::npos ? dirs.size() : colon + 1);
  }
  return {};
}

std::string directory_of_this_binary() {
  std::array<char, 4096> path{};
  const auto n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return ".";
  std::string self(path.data(), static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/'));
}

Mpi find_on_path(std::string key, std::string label, const std::string& cc, const std::string& run,
                 const std::string& packages) {
  Mpi mpi{std::move(key), std::move(label), on_path(cc), on_path(run), {}, {}, {}};
  if (mpi.cc.empty() || mpi.run.empty()) {
    mpi.missing = cc + " or " + run + " not on PATH (apt-get install " + packages + ")";
  }
  return mpi;
}

Mpi find_nexo(const Options& o) {
  const std::string dir = o.nexo_bin_dir.empty() ? directory_of_this_binary() : o.nexo_bin_dir;
  Mpi nexo{"nexo", "nexo", dir + "/nexocc", dir + "/nexorun", {}, {}, {}};
  if (!executable(nexo.cc) || !executable(nexo.run)) {
    nexo.missing = "nexocc or nexorun not in " + dir +
                   (o.nexo_bin_dir.empty()
                        ? " (next to bench_mpi): not built yet (issue 14's wrapper and launcher), "
                          "or give their directory with --nexo-bin-dir"
                        : " (--nexo-bin-dir)");
  }
  return nexo;
}

bool oversubscribed(int ranks) {
  return static_cast<unsigned>(ranks) > std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

const char* transport_name(Transport t) {
  return t == Transport::shm ? "shm" : "TCP";
}

std::vector<Mpi> find_mpis(const Options& o) {
  return {find_nexo(o),
          find_on_path("openmpi", "Open MPI", "mpicc.openmpi", "mpirun.openmpi",
                       "openmpi-bin libopenmpi-dev"),
          find_on_path("mpich", "MPICH", "mpicc.mpich", "mpirun.mpich", "mpich libmpich-dev")};
}

std::string Launch::describe() const {
  std::string out;
  for (const auto& e : env)
    out += e + " ";
  for (const auto& a : argv)
    out += (out.empty() || out.back() == ' ' ? "" : " ") + a;
  return out;
}

Launch launch_of(const Mpi& mpi, Transport transport, int ranks, const std::string& program,
                 const std::vector<std::string>& args) {
  Launch l;
  const bool tcp = transport == Transport::tcp;
  l.argv = {mpi.run, "-n", std::to_string(ranks)};
  if (mpi.key == "openmpi") {
    if (::geteuid() == 0) l.argv.push_back("--allow-run-as-root");
    if (oversubscribed(ranks)) {
      l.argv.push_back("--oversubscribe");
      l.why = "more ranks than cores: Open MPI sees it and yields while idle (mpi_yield_when_idle)";
    } else {
      l.why = "Open MPI's defaults: ranks spin while idle, each bound to a core";
    }
    for (const char* a : {"--mca", "pml", "ob1", "--mca", "btl"})
      l.argv.push_back(a);
    l.argv.push_back(tcp ? "self,tcp" : "self,vader");
    if (tcp) {
      for (const char* a : {"--mca", "btl_tcp_if_include", "lo"})
        l.argv.push_back(a);
    }
    for (const char* a : {"--mca", "oob_tcp_if_include", "lo"})
      l.argv.push_back(a);
  } else if (mpi.key == "mpich") {
    if (tcp) l.env = {"MPIR_CVAR_NOLOCAL=1", "UCX_TLS=tcp", "UCX_NET_DEVICES=lo"};
    if (oversubscribed(ranks)) {
      l.env.push_back("MPIR_CVAR_POLLS_BEFORE_YIELD=1");
      l.why = "more ranks than cores: yield after every poll (MPICH's CI setting for this)";
    } else {
      l.why = "MPICH's defaults: ranks poll, yielding every 1000 polls; hydra binds nothing";
    }
    if (tcp) l.why += "; TCP: no shm module (NOLOCAL) and UCX on tcp over lo only";
  } else {
    if (tcp) l.env = {"NEXO_MPI_TRANSPORT=tcp"};
    l.why = "nexorun's defaults (an idle rank blocks)";
  }
  l.argv.push_back(program);
  l.argv.insert(l.argv.end(), args.begin(), args.end());
  return l;
}

}  // namespace nexo::bench::mpi
