// Test support: MPI matching read literally (two lists in order, scanned),
// the model the Matcher and the Engine are checked against.
#pragma once

#include <algorithm>
#include <list>
#include <optional>
#include <utility>

#include "nexo/mpi/match.hpp"

namespace nexo::mpi {

class ReferenceMatcher {
 public:
  std::optional<Matcher::Handle> arrive(const Envelope& e, Matcher::Handle h) {
    for (auto it = posted_.begin(); it != posted_.end(); ++it) {
      if (matches(it->first, e)) {
        const auto receive = it->second;
        posted_.erase(it);
        return receive;
      }
    }
    unexpected_.emplace_back(e, h);
    return std::nullopt;
  }
  std::optional<Matcher::Handle> post(const Envelope& pattern, Matcher::Handle h) {
    auto found = find(pattern);
    if (found == unexpected_.end()) {
      posted_.emplace_back(pattern, h);
      return std::nullopt;
    }
    const auto message = found->second;
    unexpected_.erase(found);
    return message;
  }
  std::optional<Matcher::Probed> probe(const Envelope& pattern) {
    auto found = find(pattern);
    if (found == unexpected_.end()) return std::nullopt;
    return Matcher::Probed{found->second, found->first};
  }
  bool cancel(Matcher::Handle h) {
    auto it = std::find_if(posted_.begin(), posted_.end(), [&](auto& p) { return p.second == h; });
    if (it == posted_.end()) return false;
    posted_.erase(it);
    return true;
  }

 private:
  using List = std::list<std::pair<Envelope, Matcher::Handle>>;
  List::iterator find(const Envelope& pattern) {
    return std::find_if(unexpected_.begin(), unexpected_.end(),
                        [&](auto& u) { return matches(pattern, u.first); });
  }
  List posted_;
  List unexpected_;
};

}  // namespace nexo::mpi
