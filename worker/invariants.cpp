// The checks of the loop's numbered invariants (the design block at the top of loop.cpp), run
// after every pass in builds with assertions.
#include "worker/loop.hpp"

#include "worker/log.hpp"

namespace robustmq::worker {

bool Loop::invariants_hold() {
  std::string why;
  const auto broken = [&](int n, const std::string& what) {
    log(Level::error, "invariant {} broken: {}", n, what);
    return false;
  };
  // 1
  if (!window_.check(why)) return broken(1, why);
  // 2
  const std::uint64_t tail = ring_.tail();
  const std::uint64_t head = ring_.head();
  if (!(tail <= read_pos_ && read_pos_ <= head && head - tail <= ring_.size()))
    return broken(2, fmt::format("tail {}, read position {}, head {}, ring {} bytes", tail,
                                 read_pos_, head, ring_.size()));
  if (!window_.ring_entries_within(tail, read_pos_))
    return broken(2, fmt::format("a ring entry of the window ends outside (tail {}, read "
                                 "position {}]", tail, read_pos_));
  // 3 and 5
  if (!spooler_.check(window_, why)) return broken(3, why);
  // 4
  if (link_ != Link::connected && !window_.empty())
    return broken(4, fmt::format("{} entries in the window while the link is not connected",
                                 window_.entries()));
  // 6
  if (const std::string* missing = window_.find_large([&](const std::string& reference) {
        return !large_.exists(reference);
      }))
    return broken(6, fmt::format("the file of an unacknowledged large message is gone ({} "
                                 "bytes of reference)", missing->size()));
  // 7 (loop_stage.cpp): the staged messages are the ring's records from read_pos_ on, in
  // order, behind the one message in flight, each after the one before.
  if (!staged_.empty()) {
    std::uint64_t pos = read_pos_;
    std::uint64_t after = window_.entries() == 1 ? window_.oldest().send_id : 0;
    for (const Staged& s : staged_) {
      if (link_ != Link::connected || after == 0 || s.pos != pos || s.after_id != after ||
          s.send_id >= window_.next_id_peek() || s.c.ring_end > head)
        return broken(7, fmt::format("staged at {} after send id {}; expected at {} after {}, "
                                     "{} entries in the window", s.pos, s.after_id, pos, after,
                                     window_.entries()));
      pos = s.c.ring_end;
      after = s.send_id;
    }
  }
  return true;
}

}  // namespace robustmq::worker
