#include "nexo/mpi/match.hpp"

#include <algorithm>

namespace nexo::mpi {

std::size_t Matcher::KeyHash::operator()(const Envelope& e) const noexcept {
  std::uint64_t h = e.context;
  h = h * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint32_t>(e.source);
  h = h * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint32_t>(e.tag);
  return static_cast<std::size_t>(h ^ (h >> 29));
}

bool Matcher::has_posted_for(const Envelope& message) const {
  return posted_.count(message) || posted_.count({message.context, message.source, kAnyTag}) ||
         posted_.count({message.context, kAnySource, message.tag}) ||
         posted_.count({message.context, kAnySource, kAnyTag});
}

std::optional<Matcher::Handle> Matcher::arrive(const Envelope& message, Handle handle) {
  const Envelope candidates[4] = {
      message,
      {message.context, message.source, kAnyTag},
      {message.context, kAnySource, message.tag},
      {message.context, kAnySource, kAnyTag},
  };
  std::deque<Entry>* best = nullptr;
  Queues::iterator best_it;
  for (const Envelope& key : candidates) {
    auto it = posted_.find(key);
    if (it == posted_.end()) continue;
    if (best == nullptr || it->second.front().seq < best->front().seq) {
      best = &it->second;
      best_it = it;
    }
  }
  if (best != nullptr) {
    const Handle receive = best->front().handle;
    best->pop_front();
    if (best->empty()) posted_.erase(best_it);
    posted_index_.erase(receive);
    return receive;
  }
  unexpected_[message].push_back({next_seq_++, handle});
  index_[message.context][message.source].insert(message.tag);
  ++unexpected_size_;
  return std::nullopt;
}

const std::deque<Matcher::Entry>* Matcher::earliest_unexpected(const Envelope& pattern,
                                                               Envelope& key) const {
  if (pattern.source != kAnySource && pattern.tag != kAnyTag) {
    auto it = unexpected_.find(pattern);
    key = pattern;
    return it == unexpected_.end() ? nullptr : &it->second;
  }
  auto context = index_.find(pattern.context);
  if (context == index_.end()) return nullptr;
  const std::deque<Entry>* best = nullptr;
  auto consider = [&](std::int32_t source, std::int32_t tag) {
    const Envelope candidate{pattern.context, source, tag};
    auto it = unexpected_.find(candidate);
    if (it == unexpected_.end()) return;
    if (best == nullptr || it->second.front().seq < best->front().seq) {
      best = &it->second;
      key = candidate;
    }
  };
  if (pattern.source != kAnySource) {  // one source, any tag: that source's tags only
    auto source = context->second.find(pattern.source);
    if (source == context->second.end()) return nullptr;
    for (std::int32_t tag : source->second)
      consider(pattern.source, tag);
    return best;
  }
  for (const auto& [source, tags] : context->second) {
    if (pattern.tag != kAnyTag) {
      consider(source, pattern.tag);
    } else {
      for (std::int32_t tag : tags)
        consider(source, tag);
    }
  }
  return best;
}

void Matcher::pop_unexpected(const Envelope& key) {
  auto it = unexpected_.find(key);
  it->second.pop_front();
  --unexpected_size_;
  if (!it->second.empty()) return;
  unexpected_.erase(it);
  auto context = index_.find(key.context);
  auto source = context->second.find(key.source);
  source->second.erase(key.tag);
  if (!source->second.empty()) return;
  context->second.erase(source);
  if (context->second.empty()) index_.erase(context);
}

std::optional<Matcher::Handle> Matcher::post(const Envelope& pattern, Handle receive) {
  Envelope key;
  if (const auto* queue = earliest_unexpected(pattern, key)) {
    const Handle message = queue->front().handle;
    pop_unexpected(key);
    return message;
  }
  posted_[pattern].push_back({next_seq_++, receive});
  posted_index_.emplace(receive, pattern);
  return std::nullopt;
}

std::optional<Matcher::Probed> Matcher::probe(const Envelope& pattern) const {
  Envelope key;
  const auto* queue = earliest_unexpected(pattern, key);
  if (queue == nullptr) return std::nullopt;
  return Probed{queue->front().handle, key};
}

bool Matcher::cancel(Handle receive) {
  auto indexed = posted_index_.find(receive);
  if (indexed == posted_index_.end()) return false;
  auto queue = posted_.find(indexed->second);
  auto& entries = queue->second;
  entries.erase(std::find_if(entries.begin(), entries.end(),
                             [&](const Entry& e) { return e.handle == receive; }));
  if (entries.empty()) posted_.erase(queue);
  posted_index_.erase(indexed);
  return true;
}

}  // namespace nexo::mpi
