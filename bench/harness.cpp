#include "harness.hpp"

#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace nexo::bench {

// --- flags ----------------------------------------------------------------------------

Flags& Flags::add(std::string name, Kind kind, std::function<bool(std::string_view)> set,
                  std::string help) {
  specs_.push_back({std::move(name), kind, std::move(set), std::move(help)});
  return *this;
}

Flags& Flags::flag(std::string name, bool& out, bool value, std::string help) {
  return add(std::move(name), Kind::flag, [&out, value](std::string_view) { return out = value, true; },
             std::move(help));
}

Flags& Flags::count(std::string name, int& out, int max, std::string help) {
  return add(std::move(name), Kind::value,
             [&out, max](std::string_view text) {
               const auto value = parse_count(text, max);
               if (value) out = *value;
               return value.has_value();
             },
             std::move(help));
}

Flags& Flags::number(std::string name, double& out, double min, double max, std::string help) {
  return add(std::move(name), Kind::value,
             [&out, min, max](std::string_view text) {
               const std::string copy(text);
               char* end = nullptr;
               const double value = std::strtod(copy.c_str(), &end);
               if (copy.empty() || *end != '\0' || !(value >= min && value <= max)) return false;
               out = value;
               return true;
             },
             std::move(help));
}

Flags& Flags::text(std::string name, std::string& out, std::string help) {
  return add(std::move(name), Kind::value,
             [&out](std::string_view text) { return out = text, true; }, std::move(help));
}

Flags& Flags::value(std::string name, std::function<bool(std::string_view)> set,
                    std::string help) {
  return add(std::move(name), Kind::value, std::move(set), std::move(help));
}

Flags& Flags::action(std::string name, std::function<void()> action, std::string help) {
  return add(std::move(name), Kind::flag,
             [action = std::move(action)](std::string_view) { return action(), true; },
             std::move(help));
}

std::optional<bool> Flags::parse(int argc, char** argv) const {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage().c_str(), stdout);
      return false;
    }
    const auto eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const Spec* spec = nullptr;
    for (const Spec& s : specs_) {
      if (s.name == name) spec = &s;
    }
    bool good = spec != nullptr;
    if (good && spec->kind == Kind::flag) {
      good = eq == std::string_view::npos && spec->set({});
    } else if (good && eq != std::string_view::npos) {
      good = spec->set(arg.substr(eq + 1));
    } else if (good) {
      good = i + 1 < argc && spec->set(argv[++i]);  // --name VALUE
    }
    if (!good) {
      std::fprintf(stderr, "%s: unknown flag or bad value: %s (try --help)\n", program_.c_str(),
                   argv[i]);
      std::fputs(usage().c_str(), stderr);
      return std::nullopt;
    }
  }
  return true;
}

std::string Flags::usage() const {
  std::string out = "usage: " + program_ + " [flags]\n";
  for (const Spec& s : specs_) {
    std::string head = "  " + s.name;
    if (s.kind == Kind::value) head += "=V";
    head.resize(std::max<std::size_t>(head.size() + 1, 26), ' ');
    out += head + s.help + "\n";
  }
  return out;
}

std::optional<int> begin_run(const Flags& flags, int argc, char** argv) {
  const auto go = flags.parse(argc, argv);
  if (!go) return 2;
  if (!*go) return 0;
  ::signal(SIGPIPE, SIG_IGN);
  static_cast<void>(startup_cpus());
  return std::nullopt;
}

std::optional<int> parse_count(std::string_view text, int max) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 1 || value > max) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    items.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

bool ImplChoice::parse(std::string_view list) {
  std::fill(on_.begin(), on_.end(), false);
  for (auto item : split_list(list)) {
    const auto found = std::find(names_.begin(), names_.end(), item);
    if (found == names_.end()) return false;
    on_[static_cast<std::size_t>(found - names_.begin())] = true;
  }
  return std::find(on_.begin(), on_.end(), true) != on_.end();
}

std::vector<std::size_t> ImplChoice::chosen(std::initializer_list<std::size_t> except) const {
  std::vector<std::size_t> out;
  for (std::size_t impl = 0; impl < names_.size(); ++impl) {
    if (on_[impl] && std::find(except.begin(), except.end(), impl) == except.end()) {
      out.push_back(impl);
    }
  }
  return out;
}

std::string ImplChoice::joined() const {
  std::string out;
  for (const auto& name : names_)
    out += (out.empty() ? "" : ",") + name;
  return out;
}

// --- the machine and placement ---------------------------------------------------------

const char* cpus_name(Cpus cpus) {
  switch (cpus) {
    case Cpus::free:
      return "free";
    case Cpus::split:
      return "split";
    case Cpus::same:
      return "same";
  }
  return "?";
}

bool parse_cpus(std::string_view list, std::vector<Cpus>& out) {
  out.clear();
  for (auto item : split_list(list)) {
    const auto mode = item == "free" ? std::optional{Cpus::free}
                      : item == "split" ? std::optional{Cpus::split}
                      : item == "same"  ? std::optional{Cpus::same}
                                        : std::nullopt;
    if (!mode) return false;
    out.push_back(*mode);
  }
  return !out.empty();
}

const std::vector<int>& startup_cpus() {
  static const std::vector<int> cpus = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
    }
    return out;
  }();
  return cpus;
}

bool pin_this_thread(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

bool bind_thread(int cpu) {
  if (cpu >= 0) return pin_this_thread(cpu);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : startup_cpus())
    CPU_SET(c, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

std::string Placement::describe() const {
  if (mode == Cpus::free) return "free: no thread bound, the scheduler decides";
  if (mode == Cpus::same) return "same: every thread bound to cpu " + std::to_string(client);
  return "split: client side bound to cpu " + std::to_string(client) + ", server side to cpu " +
         std::to_string(server) + (proxy >= 0 ? ", proxy to cpu " + std::to_string(proxy) : "");
}

std::optional<Placement> make_placement(Cpus mode) {
  const auto& cpus = startup_cpus();
  if (mode == Cpus::free) return Placement{};
  if (cpus.empty()) return std::nullopt;
  if (mode == Cpus::same) return Placement{mode, cpus[0], cpus[0], cpus[0]};
  if (cpus.size() < 2) return std::nullopt;
  return Placement{mode, cpus[0], cpus[1], -1};
}

std::vector<Placement> make_placements(std::span<const Cpus> modes) {
  std::vector<Placement> placements;
  for (Cpus mode : modes) {
    if (auto placement = make_placement(mode)) {
      placements.push_back(*placement);
      std::printf("placement %s\n", placement->describe().c_str());
    } else {
      std::printf("placement %s: skipped (not enough cpus)\n", cpus_name(mode));
    }
  }
  return placements;
}

std::string load_average() {
  std::array<char, 128> text{};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fgets(text.data(), static_cast<int>(text.size()), f) == nullptr) text[0] = '\0';
    std::fclose(f);
  }
  std::string out(text.data());
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

void print_machine() {
  std::string cpu_list;
  for (int cpu : startup_cpus())
    cpu_list += (cpu_list.empty() ? "" : ",") + std::to_string(cpu);
  std::printf(
      "machine: %u cores (std::thread::hardware_concurrency), this process may use cpus %s\n",
      std::thread::hardware_concurrency(), cpu_list.c_str());
  std::printf("load average at start: %s\n", load_average().c_str());
  std::fflush(stdout);
}

void print_end(Clock::time_point start) {
  std::printf("\nload average at end: %s (other load on this machine disturbs the numbers)\n",
              load_average().c_str());
  std::printf("total %.1f s; benchmarks print, they never fail on a ratio\n",
              std::chrono::duration<double>(Clock::now() - start).count());
  std::fflush(stdout);
}

// --- rounds and statistics -------------------------------------------------------------

double LatencySamples::percentile_us(double p) {
  if (ns_.empty()) return 0.0;
  if (!sorted_) {
    std::sort(ns_.begin(), ns_.end());
    sorted_ = true;
  }
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(count())));
  const std::size_t index = std::clamp<std::size_t>(rank, 1, count()) - 1;
  return static_cast<double>(ns_[index]) / 1e3;
}

double Spread::median() const {
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  return sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
}

double Spread::percentile(double p) const {
  if (values.empty()) return 0.0;
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::string Spread::range(int digits) const {
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "[%.*f..%.*f]", digits, min(), digits, max());
  return text.data();
}

Usage Usage::now() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return {ru.ru_nvcsw + ru.ru_nivcsw, us(ru.ru_utime) + us(ru.ru_stime)};
}

// --- printing ---------------------------------------------------------------------------

std::string size_name(std::size_t size) {
  return size % 1024 == 0 ? std::to_string(size / 1024) + "KiB" : std::to_string(size) + "B";
}

const char* verdict(bool met) {
  return met ? "met" : "MISSED";
}

std::string percent(double fraction) {
  std::array<char, 16> text{};
  std::snprintf(text.data(), text.size(), "%g%%", fraction * 100);
  return text.data();
}

}  // namespace nexo::bench
