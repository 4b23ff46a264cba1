#include "trace_merge.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace nexo::run {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

Result<std::string> read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Error::from_errno(errno, path);
  std::string text;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Error(ErrorKind::system, path + ": read error");
  return text;
}

}  // namespace

std::string trace_file(const std::string& prefix, int rank) {
  return prefix + ".rank-" + std::to_string(rank) + ".json";
}

Result<TraceMerge> merge_traces(const std::string& prefix, int nranks, const std::string& output) {
  TraceMerge report;
  std::string merged = "[";
  bool first = true;
  for (int rank = 0; rank < nranks; ++rank) {
    const std::string path = trace_file(prefix, rank);
    auto text = read_file(path);
    if (!text) {
      report.warnings.push_back("rank " + std::to_string(rank) + " left no trace (" +
                                text.error().message() + ")");
      continue;
    }
    std::string_view body = trim(*text);
    if (body.size() < 2 || body.front() != '[' || body.back() != ']') {
      report.warnings.push_back("rank " + std::to_string(rank) + "'s trace " + path +
                                " is not a JSON array: left out");
      continue;
    }
    body = trim(body.substr(1, body.size() - 2));
    if (!body.empty()) {
      if (body.back() == ',') body.remove_suffix(1);  // tolerated: a writer cut short
      if (!first) merged += ",\n";
      merged += body;
      first = false;
    }
    ++report.merged;
  }
  merged += "]\n";
  FILE* f = std::fopen(output.c_str(), "wb");
  if (f == nullptr) return Error::from_errno(errno, "writing the trace " + output);
  const bool written = std::fwrite(merged.data(), 1, merged.size(), f) == merged.size();
  if (std::fclose(f) != 0 || !written) {
    return Error(ErrorKind::system, "writing the trace " + output + ": " + std::strerror(errno));
  }
  return report;
}

}  // namespace nexo::run
