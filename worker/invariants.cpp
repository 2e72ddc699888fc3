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
  // 7 (loop_stage.cpp): a staged message is the ring's record at read_pos_, behind the one
  // message in flight.
  if (staged_ && (link_ != Link::connected || staged_->pos != read_pos_ ||
                  window_.entries() != 1 || window_.oldest().send_id != staged_->after_id ||
                  staged_->send_id >= window_.next_id_peek()))
    return broken(7, fmt::format("staged at {} after send id {}; read position {}, {} entries "
                                 "in the window", staged_->pos, staged_->after_id, read_pos_,
                                 window_.entries()));
  return true;
}

}  // namespace robustmq::worker
