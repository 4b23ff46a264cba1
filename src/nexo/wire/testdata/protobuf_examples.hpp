// The example types copied into and out of libprotobuf's generated messages (from
// examples.proto), as an application using libprotobuf writes it. Shared by the
// interop test and bench_wire; reuses the message's and the struct's storage.
#pragma once

#include <examples.pb.h>

#include "nexo/wire/examples.hpp"

namespace nexo::wire::testdata {

namespace pb = ::nexo::examples;

inline void put(pb::Person& m, const examples::Person& p) {
  m.set_name(p.name);
  m.set_place(p.place);
  m.set_year(p.year);
}

inline void get(const pb::Person& m, examples::Person& p) {
  p.name = m.name();
  p.place = m.place();
  p.year = m.year();
}

inline void put(pb::Large& m, const examples::Large& l) {
  m.set_id(l.id);
  m.set_timestamp(l.timestamp);
  m.set_flags(l.flags);
  m.set_ratio(l.ratio);
  m.set_total(l.total);
  m.set_complete(l.complete);
  m.set_description(l.description);
  m.mutable_samples()->Assign(l.samples.begin(), l.samples.end());
  auto* records = m.mutable_records();
  while (records->size() > static_cast<int>(l.records.size()))
    records->RemoveLast();
  for (std::size_t k = 0; k < l.records.size(); ++k) {
    auto* r = k < static_cast<std::size_t>(records->size()) ? records->Mutable(static_cast<int>(k))
                                                            : records->Add();
    r->set_id(l.records[k].id);
    r->set_value(l.records[k].value);
    r->set_label(l.records[k].label);
    r->set_valid(l.records[k].valid);
  }
}

inline void get(const pb::Large& m, examples::Large& l) {
  l.id = m.id();
  l.timestamp = m.timestamp();
  l.flags = m.flags();
  l.ratio = m.ratio();
  l.total = m.total();
  l.complete = m.complete();
  l.description = m.description();
  l.samples.assign(m.samples().begin(), m.samples().end());
  l.records.resize(static_cast<std::size_t>(m.records_size()));
  for (std::size_t k = 0; k < l.records.size(); ++k) {
    const auto& r = m.records(static_cast<int>(k));
    l.records[k].id = r.id();
    l.records[k].value = r.value();
    l.records[k].label = r.label();
    l.records[k].valid = r.valid();
  }
}

}  // namespace nexo::wire::testdata
