// `nexo group join` as separate processes: five members on loopback multicast
// through a fault plan of 10% loss plus duplication and reordering deliver
// every message exactly once in the promised order; a member killed with
// SIGKILL leaves the survivors' view and virtual synchrony holds across the
// change (the same five in network namespaces: group_netns_test.cpp); a
// member sent SIGINT or SIGTERM leaves cleanly and exits 130 or 143.
//
// Every run prints its seed (NEXO_GROUP_SEED=N reruns one). Waits have
// generous deadlines that fail the test; nothing asserts on speed.
#include "group_process_support.hpp"

namespace {

std::vector<Placement> on_loopback() {
  return std::vector<Placement>(kMembers);
}

TEST(GroupProcesses, FiveMembersFifoThroughLossDuplicationReordering) {
  run_five("fifo", on_loopback(), "fifo");
}

TEST(GroupProcesses, FiveMembersUnicastFanOutThroughLossDuplicationReordering) {
  std::vector<Placement> unicast(kMembers);
  for (auto& s : unicast)
    s.unicast = true;
  run_five("fifo", unicast, "unicast");
}

TEST(GroupProcesses, FiveMembersTotalOrderThroughLossDuplicationReordering) {
  run_five("total", on_loopback(), "total");
}

TEST(GroupProcesses, FiveMembersAgreedOrderThroughLossDuplicationReordering) {
  run_five("agreed", on_loopback(), "agreed");
}

// Causal order: a chain c0 -> c1 -> ... where member j % 5 sends c<j> only
// after it delivered c<j-1> (the test writes c<j> to its input then), with
// other traffic around it through the faults: every member delivers the
// chain in order, and everything once, each sender's in order.
TEST(GroupProcesses, FiveMembersCausalOrderKeepsAReplyChain) {
  std::cout << "seed " << run_seed() << " (NEXO_GROUP_SEED reruns it), order causal" << std::endl;
  Members members;
  const std::string name = "gproc-causal-" + std::to_string(::getpid());
  ASSERT_EQ(start_members(members, name, "causal", on_loopback(),
                          {"--loss", "0.1", "--dup", "0.05", "--reorder", "0.05"}),
            "");
  constexpr int kChain = 30;
  for (int i = 0; i < kMembers; ++i) {
    std::string lines;
    for (int k = 0; k < kMessages; ++k)
      lines += message(i, k) + "\n";
    members[static_cast<std::size_t>(i)]->write(lines);
  }
  members[0]->write("c0\n");
  for (int j = 1; j < kChain; ++j) {
    Member& next = *members[static_cast<std::size_t>(j % kMembers)];
    const std::string previous = ": c" + std::to_string(j - 1);
    ASSERT_TRUE(wait_for(members,
                         [&] {
                           for (const auto& line : next.out())
                             if (line.size() >= previous.size() &&
                                 line.compare(line.size() - previous.size(), previous.size(),
                                              previous) == 0)
                               return true;
                           return false;
                         }))
        << "c" << j - 1 << " never delivered at member " << j % kMembers;
    next.write("c" + std::to_string(j) + "\n");
  }
  const std::size_t total = kMembers * kMessages + kChain;
  ASSERT_TRUE(wait_for(members, [&] {
    for (auto& m : members)
      if (m->out().size() < total) return false;
    return true;
  }));
  for (auto& m : members)
    m->close_stdin();
  ASSERT_TRUE(wait_for(members, [&] {
    for (auto& m : members)
      if (m->poll_exit() < 0) return false;
    return true;
  }));
  for (auto& m : members) {
    SCOPED_TRACE(name_of(*m));
    EXPECT_EQ(m->poll_exit(), 0) << m->err_text();
    ASSERT_EQ(m->out().size(), total);
    int next_link = 0;
    std::map<std::string, int> next_k;
    for (const auto& line : m->out()) {
      const std::string text = line.substr(line.find(": ") + 2);
      if (text[0] == 'c') {
        EXPECT_EQ(text, "c" + std::to_string(next_link)) << "the chain out of causal order";
        ++next_link;
      } else {
        const std::string sender = text.substr(0, text.find('-'));
        EXPECT_EQ(text, sender + "-" + std::to_string(next_k[sender]++)) << "FIFO broken";
      }
    }
    EXPECT_EQ(next_link, kChain);
  }
}

TEST(GroupProcesses, SigkilledMemberLeavesTheViewAndVirtualSynchronyHolds) {
  std::cout << "seed " << run_seed() << " (NEXO_GROUP_SEED reruns it)" << std::endl;
  Members members;
  const std::string name = "gproc-kill-" + std::to_string(::getpid());
  ASSERT_EQ(start_members(members, name, "fifo", on_loopback(),
                          {"--loss", "0.1", "--detection-time", "1s"}),
            "");
  const std::size_t victim = 2;
  const std::string victim_name = name_of(*members[victim]);
  std::string lines;
  for (int k = 0; k < 2000; ++k)
    lines += message(static_cast<int>(victim), k) + "\n";
  members[victim]->write(lines);
  // Killed while its messages are on the way: some survivors may have more
  // of them than others at that moment; the flush must even that out.
  wait_for(members, [&] { return members[0]->out().size() >= 50; });
  members[victim]->kill9();
  const auto killed_at = Clock::now();
  const bool gone = wait_for(members, [&] {
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i == victim) continue;
      const auto v = last_view(*members[i]);
      if (v.size() != kMembers - 1 || std::find(v.begin(), v.end(), victim_name) != v.end())
        return false;
    }
    return true;
  });
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  std::cout << "every survivor had a view without the killed member " << took.count()
            << " ms after SIGKILL (detection time 1 s)" << std::endl;
  std::string report;
  for (auto& m : members)
    report += "\n--- " + name_of(*m) + "\n" + m->err_text();
  ASSERT_TRUE(gone) << report;
  for (std::size_t i = 0; i < members.size(); ++i)
    if (i != victim) members[i]->close_stdin();
  ASSERT_TRUE(wait_for(members, [&] {
    for (std::size_t i = 0; i < members.size(); ++i)
      if (i != victim && members[i]->poll_exit() < 0) return false;
    return true;
  })) << report;
  // Virtual synchrony: the survivors moved together from the old view to the
  // new one, so they delivered the same messages of the killed member (its
  // messages can only be delivered in the old view): the same prefix of them.
  std::optional<std::vector<std::string>> common;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i == victim) continue;
    EXPECT_EQ(members[i]->poll_exit(), 0) << report;
    const Delivered d = parse(*members[i]);
    const auto it = d.by_sender.find(victim_name);
    const std::vector<std::string> got =
        it == d.by_sender.end() ? std::vector<std::string>{} : it->second;
    for (std::size_t k = 0; k < got.size(); ++k)
      ASSERT_EQ(got[k], message(static_cast<int>(victim), static_cast<int>(k)));
    if (!common) {
      common = got;
      std::cout << "the survivors each delivered " << got.size()
                << " of the killed member's messages" << std::endl;
    }
    EXPECT_EQ(got.size(), common->size()) << name_of(*members[i]) << report;
  }
}

// SIGINT (Ctrl-C) or SIGTERM at one of three members: it leaves cleanly, so
// the other two install a view without it through the leave path, not crash
// detection. The detection time is longer than the test's deadline for that
// view (the view can only come from the leave), and each survivor's --stats
// says it detected no crash. The signalled member exits 128 + the signal.
void signalled_member_leaves_cleanly(int signo) {
  std::cout << "seed " << run_seed() << " (NEXO_GROUP_SEED reruns it)" << std::endl;
  Members members;
  const std::string name = "gproc-sig" + std::to_string(signo) + "-" + std::to_string(::getpid());
  ASSERT_EQ(start_members(members, name, "fifo", std::vector<Placement>(3),
                          {"--detection-time", "300s", "--stats"}),
            "");
  const std::size_t leaver = 1;
  const std::string leaver_name = name_of(*members[leaver]);
  for (std::size_t i = 0; i < members.size(); ++i)
    members[i]->write(message(static_cast<int>(i), 0) + "\n");
  ASSERT_TRUE(wait_for(members, [&] {
    for (auto& m : members)
      if (m->out().size() < members.size()) return false;
    return true;
  }));
  members[leaver]->signal(signo);
  std::string report;
  const bool gone = wait_for(members, [&] {
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i == leaver) continue;
      const auto v = last_view(*members[i]);
      if (v.size() != 2 || std::find(v.begin(), v.end(), leaver_name) != v.end()) return false;
    }
    return members[leaver]->poll_exit() >= 0;
  });
  for (auto& m : members)
    report += "\n--- " + name_of(*m) + "\n" + m->err_text();
  ASSERT_TRUE(gone) << "no view without the signalled member, or it did not exit" << report;
  EXPECT_EQ(members[leaver]->poll_exit(), 128 + signo) << report;
  for (std::size_t i = 0; i < members.size(); ++i)
    if (i != leaver) members[i]->close_stdin();
  ASSERT_TRUE(wait_for(members, [&] {
    for (auto& m : members)
      if (m->poll_exit() < 0) return false;
    return true;
  })) << report;
  report.clear();
  for (auto& m : members)
    report += "\n--- " + name_of(*m) + "\n" + m->err_text();
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i == leaver) continue;
    SCOPED_TRACE(name_of(*members[i]));
    EXPECT_EQ(members[i]->poll_exit(), 0) << report;
    EXPECT_NE(members[i]->err_text().find(", crashes detected 0\n"), std::string::npos)
        << "the view without the leaver came from crash detection" << report;
  }
  // The leaver printed its own stats and the leave: it was in the view it left.
  EXPECT_NE(members[leaver]->err_text().find(": leaving"), std::string::npos) << report;
  EXPECT_NE(members[leaver]->err_text().find("stats group "), std::string::npos) << report;
}

TEST(GroupProcesses, SigintLeavesCleanlyAndExits130) {
  signalled_member_leaves_cleanly(SIGINT);
}

TEST(GroupProcesses, SigtermLeavesCleanlyAndExits143) {
  signalled_member_leaves_cleanly(SIGTERM);
}

}  // namespace
