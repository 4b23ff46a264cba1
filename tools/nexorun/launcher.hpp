// nexorun's two modes. The launcher runs one job (job.hpp): it places the ranks, starts them
// (here, and through agents), answers their control connections, forwards their output, and
// decides how the job ends.
//
// How a job ends (the first cause wins; its message is printed at once and the rest of the job
// is torn down: SIGTERM to every rank's process group, SIGKILL 3 s later, KILL to the agents):
//   - a rank exits non-zero, or is killed by a signal: that status (128+N for signal N);
//   - a rank that started MPI (said HELLO) exits 0 without MPI_Finalize: 1;
//   - a rank calls MPI_Abort(code): code (1 when its low byte is 0);
//   - --timeout: 124; SIGINT / SIGTERM / SIGHUP: 130 / 143 / 129;
//   - ranks that did not say HELLO within --init-timeout of the first HELLO, or a rank that
//     ended before MPI_Init while others waited for it in MPI_Init: 1, naming the ranks;
//   - an agent failed or its connection dropped: 1.
// Otherwise the job ends when every rank exited 0: 0. A program that never calls MPI_Init
// (`nexorun -n 2 hostname`) runs as plain processes, as under Open MPI.
#pragma once

#include "options.hpp"

namespace nexo::run {

// Runs the job of `options` (Mode::launch) to its end and returns nexorun's exit status.
int run_launcher(const Options& options);

// Runs an agent (Mode::agent or Mode::agent_stdio) and returns its exit status.
int run_agent(const Options& options);

}  // namespace nexo::run
