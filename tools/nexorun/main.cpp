// nexorun — starts the ranks of an MPI program (nexo's mpi.h) and wires them up, like mpirun.
//
//   nexorun -n 4 ./prog args...                   four ranks on this machine
//   nexorun -n 4 --host agent://10.0.0.2:4000:2,agent://10.0.0.3:4000:2 ./prog
//   nexorun --agent --listen 10.0.0.2:4000        (on 10.0.0.2) serve launchers
//
// `nexorun --help` lists the options; launcher.hpp says how a job ends and with which status.
#include <string>
#include <vector>

#include "launcher.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = nexo::run::parse_options(args);
  if (!options) {
    if (options.error().is(nexo::ErrorKind::canceled)) {
      std::fputs(nexo::run::usage().c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "nexorun: %s\n", options.error().message().c_str());
    return 2;
  }
  if (options->mode != nexo::run::Mode::launch) return nexo::run::run_agent(*options);
  return nexo::run::run_launcher(*options);
}
