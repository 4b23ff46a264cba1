#include "nexo/fault/plan.hpp"

#include <cmath>
#include <sstream>

namespace nexo::fault {
namespace {

std::string number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

Error out_of_range(std::string_view which, std::string_view field, const std::string& value,
                   std::string_view why) {
  return Error(ErrorKind::invalid_argument, "fault plan, " + std::string(which) +
                                                " direction: " + std::string(field) + " " + value +
                                                " " + std::string(why));
}

}  // namespace

std::string Direction::to_string() const {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (partitioned) add("partitioned");
  if (loss > 0)
    add("loss " + number(loss) + (burst > 1 ? " (bursts of " + number(burst) + ")" : ""));
  if (duplicate > 0) add("dup " + number(duplicate));
  if (reorder > 0)
    add("reorder " + number(reorder) + " (window " + std::to_string(reorder_window) + ")");
  if (delay.count() > 0 || jitter.count() > 0) {
    add("delay " + number(static_cast<double>(delay.count()) / 1000) + " ms ± " +
        number(static_cast<double>(jitter.count()) / 1000) + " ms");
  }
  if (corrupt > 0) add("corrupt " + number(corrupt));
  return out.empty() ? "no faults" : out;
}

Result<void> Direction::validate(std::string_view which) const {
  const std::pair<std::string_view, double> probabilities[] = {
      {"loss", loss}, {"dup", duplicate}, {"reorder", reorder}, {"corrupt", corrupt}};
  for (const auto& [field, p] : probabilities) {
    if (!(p >= 0 && p <= 1))
      return out_of_range(which, field, number(p), "is not a probability (0..1)");
  }
  if (!(burst >= 1) || !std::isfinite(burst))
    return out_of_range(which, "burst", number(burst), "must be a mean run length >= 1");
  if (reorder > 0 && reorder_window == 0)
    return out_of_range(which, "reorder window", "0", "must be at least 1 to reorder");
  if (delay.count() < 0)
    return out_of_range(which, "delay", std::to_string(delay.count()) + " us", "is negative");
  if (jitter.count() < 0)
    return out_of_range(which, "jitter", std::to_string(jitter.count()) + " us", "is negative");
  if (max_hold.count() < 0)
    return out_of_range(which, "max hold", std::to_string(max_hold.count()) + " us", "is negative");
  return ok();
}

Result<void> Plan::validate() const {
  if (auto v = to.validate("to"); !v) return v;
  return back.validate("back");
}

}  // namespace nexo::fault
