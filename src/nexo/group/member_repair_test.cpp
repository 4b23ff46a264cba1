// Member's part in the Endpoint's flush: others' messages kept until stable,
// repaired for a crashed sender by the member made its repairer, NAKed up to
// a cut (expect), and the lagging members seen in the digests.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nexo/group/member.hpp"

namespace nexo::group {
namespace {

using namespace std::chrono_literals;

const Time kT0 = Time{} + 1h;

Member make(MemberId self, std::size_t window = 4096) {
  MemberConfig c;
  c.group = 77;
  c.self = self;
  c.members = {1, 2, 3};
  c.window = window;
  return Member::create(c, kT0).value();
}

std::vector<Bytes> drain(Member& m) {
  std::vector<Bytes> out;
  Bytes b;
  Destination to;
  while (m.poll_transmit(b, to))
    out.push_back(b);
  return out;
}

Type type_of(const Bytes& b) {
  Packet p;
  EXPECT_EQ(decode(b, p), ParseError::none);
  return p.header.type;
}

std::vector<std::string> payloads_from(Member& m, MemberId sender) {
  std::vector<std::string> out;
  while (auto d = m.poll_delivery())
    if (d->sender == sender) out.emplace_back(as_text(d->payload));
  return out;
}

TEST(GroupMemberRepair, RepairerResendsACrashedSendersMessageToWhoLacksIt) {
  Member a = make(1), b = make(2), c = make(3);
  ASSERT_TRUE(a.send(to_bytes("one"), kT0));
  ASSERT_TRUE(a.send(to_bytes("two"), kT0));
  for (const Bytes& p : drain(a))
    b.on_packet(p, kT0);  // c gets nothing; a crashes
  EXPECT_EQ(b.delivered_through(1), 2u);
  EXPECT_EQ(b.kept_messages(), 2u);
  EXPECT_EQ(c.delivered_through(1), 0u);
  // The cut says a's messages run to 2 and b has them.
  b.set_repairer(1);
  c.expect(1, 2, kT0);
  Time now = kT0;
  std::vector<Bytes> naks;
  while (naks.empty() && now < kT0 + 1s) {
    now += 1ms;
    c.on_timer(now);
    for (const Bytes& p : drain(c))
      if (type_of(p) == Type::nak) naks.push_back(p);
  }
  ASSERT_FALSE(naks.empty());
  for (const Bytes& p : naks)
    b.on_packet(p, now);
  std::vector<Bytes> repairs = drain(b);
  ASSERT_EQ(repairs.size(), 2u);
  for (const Bytes& p : repairs) {
    Packet packet;
    ASSERT_EQ(decode(p, packet), ParseError::none);
    EXPECT_EQ(packet.header.sender, 1u);  // a's DATA, as a sent it
    EXPECT_TRUE(std::get<Data>(packet.body).retransmission);
    c.on_packet(p, now);
  }
  EXPECT_EQ(payloads_from(c, 1), (std::vector<std::string>{"one", "two"}));
}

TEST(GroupMemberRepair, NoRepairWithoutTheRoleAndKeptMessagesGoWhenStable) {
  Member a = make(1), b = make(2), c = make(3);
  ASSERT_TRUE(a.send(to_bytes("x"), kT0));
  const std::vector<Bytes> data = drain(a);
  for (const Bytes& p : data)
    b.on_packet(p, kT0);
  c.expect(1, 1, kT0);
  Time now = kT0 + 50ms;
  c.on_timer(now);
  for (const Bytes& p : drain(c))
    b.on_packet(p, now);  // b is not a's repairer
  for (const Bytes& p : drain(b))
    EXPECT_NE(type_of(p), Type::data);
  // c gets it after all; once every member's digest has it, b lets it go.
  for (const Bytes& p : data)
    c.on_packet(p, now);
  now += 200ms;
  for (Member* m : {&a, &c}) {
    m->on_timer(now);
    for (const Bytes& p : drain(*m))
      b.on_packet(p, now);
  }
  b.on_timer(now);  // its heartbeat prunes
  EXPECT_EQ(b.kept_messages(), 0u);
}

TEST(GroupMemberRepair, LaggingMembersAreThoseBehindByTheThreshold) {
  Member a = make(1), b = make(2), c = make(3);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(a.send(to_bytes("m"), kT0));
  const std::vector<Bytes> data = drain(a);
  for (const Bytes& p : data)
    b.on_packet(p, kT0);
  for (std::size_t i = 0; i < 3; ++i)
    c.on_packet(data[i], kT0);
  const Time now = kT0 + 200ms;
  for (Member* m : {&b, &c}) {
    m->on_timer(now);
    for (const Bytes& p : drain(*m))
      a.on_packet(p, now);
  }
  std::vector<MemberId> slow;
  a.lagging(5, slow);
  EXPECT_EQ(slow, std::vector<MemberId>{3});  // 7 behind; b is not behind
  a.lagging(8, slow);
  EXPECT_TRUE(slow.empty());
}

}  // namespace
}  // namespace nexo::group
