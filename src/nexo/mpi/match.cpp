#include "nexo/mpi/match.hpp"

#include <algorithm>

namespace nexo::mpi {

std::size_t Matcher::KeyHash::operator()(const Envelope& e) const noexcept {
  std::uint64_t h = e.context;
  h = h * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint32_t>(e.source);
  h = h * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint32_t>(e.tag);
  return static_cast<std::size_t>(h ^ (h >> 29));
}

void Matcher::drop_if_many(Queues& queues, Queues::iterator emptied) {
  if (queues.size() > kKeepQueues) queues.erase(emptied);
}

bool Matcher::has_posted_for(const Envelope& message) const {
  auto posted = [this](const Envelope& key) {
    auto it = posted_.find(key);
    return it != posted_.end() && !it->second.empty();
  };
  return posted(message) || posted({message.context, message.source, kAnyTag}) ||
         posted({message.context, kAnySource, message.tag}) ||
         posted({message.context, kAnySource, kAnyTag});
}

std::optional<Matcher::Handle> Matcher::arrive(const Envelope& message, Handle handle) {
  const Envelope candidates[4] = {
      message,
      {message.context, message.source, kAnyTag},
      {message.context, kAnySource, message.tag},
      {message.context, kAnySource, kAnyTag},
  };
  Queue* best = nullptr;
  Queues::iterator best_it;
  for (const Envelope& key : candidates) {
    if (posted_size_ == 0) break;
    auto it = posted_.find(key);
    if (it == posted_.end() || it->second.empty()) continue;
    if (best == nullptr || it->second.front().seq < best->front().seq) {
      best = &it->second;
      best_it = it;
    }
  }
  if (best != nullptr) {
    const Handle receive = best->front().handle;
    best->pop_front();
    --posted_size_;
    if (best->empty()) drop_if_many(posted_, best_it);
    return receive;
  }
  unexpected_[message].push_back({next_seq_++, handle});
  index_[message.context][message.source].insert(message.tag);
  ++unexpected_size_;
  return std::nullopt;
}

const Matcher::Queue* Matcher::earliest_unexpected(const Envelope& pattern, Envelope& key) const {
  if (unexpected_size_ == 0) return nullptr;
  if (pattern.source != kAnySource && pattern.tag != kAnyTag) {
    auto it = unexpected_.find(pattern);
    key = pattern;
    return it == unexpected_.end() || it->second.empty() ? nullptr : &it->second;
  }
  auto context = index_.find(pattern.context);
  if (context == index_.end()) return nullptr;
  const Queue* best = nullptr;
  auto consider = [&](std::int32_t source, std::int32_t tag) {
    const Envelope candidate{pattern.context, source, tag};
    auto it = unexpected_.find(candidate);
    if (it == unexpected_.end() || it->second.empty()) return;
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
  drop_if_many(unexpected_, it);
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
  ++posted_size_;
  return std::nullopt;
}

std::optional<Matcher::Probed> Matcher::probe(const Envelope& pattern) const {
  Envelope key;
  const auto* queue = earliest_unexpected(pattern, key);
  if (queue == nullptr) return std::nullopt;
  return Probed{queue->front().handle, key};
}

// Without the pattern: a scan of the posted queues (cancelling is rare, and an index for it
// would cost every post).
bool Matcher::cancel(Handle receive) {
  for (auto& [pattern, entries] : posted_) {
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (entries[i].handle == receive) return cancel(pattern, receive);
  }
  return false;
}

bool Matcher::cancel(const Envelope& pattern, Handle receive) {
  auto it = posted_.find(pattern);
  if (it == posted_.end()) return false;
  Queue& entries = it->second;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].handle != receive) continue;
    // Rebuilt without it, in order.
    Queue kept;
    for (std::size_t j = 0; j < entries.size(); ++j)
      if (j != i) kept.push_back(entries[j]);
    entries = std::move(kept);
    --posted_size_;
    if (entries.empty()) drop_if_many(posted_, it);
    return true;
  }
  return false;
}

}  // namespace nexo::mpi
