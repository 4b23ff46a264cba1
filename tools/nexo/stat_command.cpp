// nexo stat: the live counters of running nexo programs, read from their
// counter files (src/nexo/base/counter_file.hpp), as a table or in the
// Prometheus text format.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "nexo/base/counter_file.hpp"

namespace nexo::tool {
namespace {

// The files to read: the one of `pid`, or every live one (files of dead
// processes are removed, reported on stderr).
std::vector<CounterFileEntry> targets(const std::optional<std::uint32_t>& pid) {
  const auto dir = counter_directory();
  if (pid) return {CounterFileEntry{*pid, counter_file_path(*pid, dir), process_alive(*pid)}};
  std::vector<CounterFileEntry> live;
  for (auto& entry : list_counter_files(dir)) {
    if (entry.alive) {
      live.push_back(entry);
    } else {
      std::error_code ec;
      std::filesystem::remove(entry.path, ec);
      std::cerr << "nexo stat: removed " << entry.path.string() << " (pid " << entry.pid
                << " is gone)\n";
    }
  }
  return live;
}

std::string escape_label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void print_table(const CounterFileContents& c, std::ostream& out) {
  const auto started = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(c.start_time_ns)));
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now() - started);
  out << "pid " << c.pid << " (" << c.program << "), up " << age.count() << " s, "
      << c.records.size() << " counter sets (" << c.used << " of " << c.capacity
      << " records used)\n";
  for (const auto& r : c.records) {
    out << "  " << r.type << " #" << r.owner << " " << r.label << "\n   ";
    for (const auto& v : r.values)
      out << " " << v.name << " " << v.value;
    out << "\n";
  }
}

struct Sample {
  std::string labels;
  std::uint64_t value;
};
struct Family {
  CounterKind kind;
  std::string help;
  std::vector<Sample> samples;
};

void add_samples(const CounterFileContents& c, std::map<std::string, Family>& families) {
  for (const auto& r : c.records) {
    for (const auto& v : r.values) {
      std::string name = "nexo_" + r.type + "_" + v.name;
      if (v.kind == CounterKind::counter) name += "_total";
      auto& family = families[name];
      family.kind = v.kind;
      family.help = "nexo " + r.type + " " + v.name;
      family.samples.push_back(Sample{"{pid=\"" + std::to_string(c.pid) + "\",id=\"" +
                                          std::to_string(r.owner) + "\",label=\"" +
                                          escape_label(r.label) + "\"}",
                                      v.value});
    }
  }
}

void print_prometheus(const std::map<std::string, Family>& families, std::ostream& out) {
  for (const auto& [name, family] : families) {
    out << "# HELP " << name << " " << family.help << "\n";
    out << "# TYPE " << name << " " << (family.kind == CounterKind::gauge ? "gauge" : "counter")
        << "\n";
    for (const auto& s : family.samples)
      out << name << s.labels << " " << s.value << "\n";
  }
}

// One report of every target; false when one could not be read.
bool report(const StatArgs& args, std::ostream& out) {
  bool ok = true;
  std::map<std::string, Family> families;
  const auto files = targets(args.pid);
  if (files.empty() && !args.prometheus) out << "no nexo process publishes counters in "
                                              << counter_directory().string() << "\n";
  for (const auto& entry : files) {
    auto contents = read_counter_file(entry.path);
    if (!contents) {
      std::cerr << "nexo stat: " << contents.error().message()
                << (entry.alive ? "" : " (no process has this pid)") << "\n";
      ok = false;
      continue;
    }
    if (args.prometheus) {
      add_samples(*contents, families);
    } else if (!args.pid) {  // the list of processes
      out << contents->pid << "  " << contents->program << "  " << contents->records.size()
          << " counter sets\n";
    } else {
      print_table(*contents, out);
    }
  }
  if (args.prometheus) print_prometheus(families, out);
  return ok;
}

}  // namespace

int stat(const StatArgs& args) {
  if (!args.watch) return report(args, std::cout) ? 0 : 1;
  for (std::size_t i = 0; !args.count || i < *args.count; ++i) {
    std::ostringstream frame;
    const bool ok = report(args, frame);
    std::cout << "\033[H\033[2J" << frame.str() << std::flush;  // redraw from the top
    if (!ok && args.pid) return 1;
    if (!args.count || i + 1 < *args.count)
      std::this_thread::sleep_for(std::chrono::duration<double>(args.interval));
  }
  return 0;
}

}  // namespace nexo::tool
