// Scribe: a publisher's custody of its own messages. A message handed to a route toward the
// key (or flooded into a fragment of the tree) is lost when every node that took it dies
// before a node of the main tree gets it: the rendezvous that held it alone, the hops of a
// route slowed by dead contacts. So the publisher keeps each message and routes it toward the
// key again `reoffers` times (reoffer_interval, then twice as long after each); a node that
// has it already answers at once (deduplicated), one that lacks it floods or routes it on.
// Every message is re-offered all `reoffers` times, in a tree or not (a tree may be a
// fragment): a few routed queries per message. The scheme is described in scribe.hpp.
#include <algorithm>
#include <utility>

#include "nexo/overlay/scribe.hpp"
#include "nexo/overlay/scribe_topic.hpp"

namespace nexo::overlay {

// Keeps `message` (just published) for its first re-offer.
void Scribe::keep(const NodeId& key, const Message& message, Time now) {
  if (config_.reoffers == 0) return;
  if (custody_.size() >= config_.max_in_flight) {
    custody_.pop_front();  // the oldest is the nearest to its last re-offer
    ++counters_.custody_dropped;
  }
  Custody c{now + config_.reoffer_interval, key, std::make_unique<Message>(message),
            config_.reoffers, config_.reoffer_interval};
  const auto at = std::upper_bound(custody_.begin(), custody_.end(), c.due,
                                   [](Time due, const Custody& x) { return due < x.due; });
  custody_.insert(at, std::move(c));
}

// Routes the messages due toward the key again, and keeps them for the next re-offer.
void Scribe::reoffer_due(Time now) {
  std::vector<Custody> due;
  while (!custody_.empty() && custody_.front().due <= now) {
    due.push_back(std::move(custody_.front()));
    custody_.pop_front();
  }
  for (Custody& c : due) {
    ++counters_.reoffered;
    route_publish(c.key, *c.message, now);
    if (--c.left == 0) continue;
    c.gap *= 2;
    c.due = now + c.gap;
    const auto at = std::upper_bound(custody_.begin(), custody_.end(), c.due,
                                     [](Time d, const Custody& x) { return d < x.due; });
    custody_.insert(at, std::move(c));
  }
}

}  // namespace nexo::overlay
