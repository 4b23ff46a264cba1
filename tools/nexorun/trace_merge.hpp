// Merging the ranks' trace files (PREFIX.rank-N.json, each a JSON array of Chrome trace events,
// written by the MPI runtime under NEXO_MPI_TRACE=PREFIX) into one JSON array that Perfetto
// and chrome://tracing open.
//
// The merge is textual: each file must be one JSON array ('[' ... ']', surrounding whitespace
// allowed); its elements are copied as they are, in rank order. A file that is missing, or is
// not an array, is left out with a warning; the events themselves are not parsed.
#pragma once

#include <string>
#include <vector>

#include "nexo/base/result.hpp"

namespace nexo::run {

struct TraceMerge {
  int merged = 0;                     // files whose events are in the output
  std::vector<std::string> warnings;  // one line per file left out
};

// The trace file of `rank` under `prefix`.
std::string trace_file(const std::string& prefix, int rank);

// Writes the merged array of ranks 0..nranks-1 to `output`. Errors: the output cannot be
// written (the warnings are then lost with it).
Result<TraceMerge> merge_traces(const std::string& prefix, int nranks, const std::string& output);

}  // namespace nexo::run
