#include "lib/sequence_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "lib/client_impl.hpp"
#include "proto/durable_file.hpp"

namespace robustmq::sequence_file {

namespace {
// "robustmq-seq 1 <bound>\n": a name and a format version, so that a file of anything else is
// recognised as damage.
constexpr std::string_view kHeader = "robustmq-seq 1 ";
}  // namespace

std::optional<std::uint64_t> read(const std::filesystem::path& dir, std::string& why) {
  const auto path = dir / kName;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) return std::nullopt;  // `why` stays empty
    why = fmt::format("cannot read {}", path.string());
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  std::uint64_t bound = 0;
  const std::string_view rest = std::string_view(s).substr(std::min(s.size(), kHeader.size()));
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), bound);
  if (!s.starts_with(kHeader) || ec != std::errc() || end == rest.data() ||
      std::string_view(end, rest.data() + rest.size() - end) != "\n" || bound == 0) {
    why = fmt::format("{} is damaged (it does not hold \"{}<number>\")", path.string(), kHeader);
    return std::nullopt;
  }
  return bound;
}

bool write(const std::filesystem::path& dir, std::uint64_t bound, std::string& why) {
  return !replace_file(dir, kName, fmt::format("{}{}\n", kHeader, bound), true, why);
}

void forget(const std::filesystem::path& dir) {
  ::unlink((dir / kName).c_str());
  (void)sync_dir(dir);
}

}  // namespace robustmq::sequence_file

// The client's side: the numbering of a client continues that of earlier lives.
namespace robustmq {

void RobustClient::Impl::start_sequence(bool new_segment) {
  auto& next = seg().producer.next_seq;
  std::string why;
  const auto bound = sequence_file::read(cache_dir_, why);
  if (!why.empty())
    set_error(fmt::format("{}: the worker takes the next sequence number from the highest in "
                          "the disk cache; numbers of messages an earlier life delivered may "
                          "repeat",
                          why));
  // An adopted segment holds the next number of the life that left it; that life may have died
  // between publishing a record numbered `next` and storing next + 1 (publish(): head first),
  // so one number is skipped. A new segment (after a reboot or a clean stop) starts at the
  // bound. (A segment of a release without numbers holds 0.)
  std::uint64_t first = bound.value_or(1);
  if (!new_segment && next.load() != 0) first = next.load() + 1;
  next.store(first, std::memory_order_release);
  // Without a bound (a new cache directory, a damaged or unwritable file, a cache of a release
  // without robustmq.seq) the worker starts the numbering above every cached message before it
  // reports running (Loop::init_sequence()); the bound is recorded only after that
  // (finish_sequence()), so that a start that fails on the way leaves none to be trusted.
  seg().control.seq_unknown.store(bound ? 0 : 1, std::memory_order_release);
  if (!bound) seq_bound_ = 0;
  else if (first < *bound) seq_bound_ = *bound;
  else lease_sequence(first);
}

void RobustClient::Impl::finish_sequence() {
  if (seq_bound_ != 0) return;  // a bound was known
  if (seg().control.seq_unknown.load(std::memory_order_acquire) == 0) {
    lease_sequence(seg().producer.next_seq.load());
    return;
  }
  // The worker could not read the cache to go above its numbers: none is recorded in this life,
  // so that the next start looks again.
  seq_bound_ = UINT64_MAX;
  set_error("the disk cache could not be read to continue its sequence numbers: new numbers may "
            "repeat those of cached messages until the cache is empty");
}

void RobustClient::Impl::save_sequence() noexcept {
  // After a clean stop the segment is gone: the next life starts at this number, without a gap.
  // Not while the numbering may overlap the cache's (finish_sequence()); a failed write leaves
  // the earlier bound, which is still above every number given out.
  if (seg().control.seq_unknown.load() != 0) return;
  std::string why;
  try {
    (void)sequence_file::write(cache_dir_, seg().producer.next_seq.load(), why);
  } catch (...) {
  }
}

void RobustClient::Impl::lease_sequence(std::uint64_t seq) {
  std::string why;
  if (sequence_file::write(cache_dir_, seq + sequence_file::kLeaseBlock, why)) {
    seq_bound_ = seq + sequence_file::kLeaseBlock;
    return;
  }
  // The recorded bound is about to be passed: no file at all makes a later life look at the
  // cache instead of trusting it. Numbering goes on (a message is not refused for this), and so
  // do the tries.
  sequence_file::forget(cache_dir_);
  seq_bound_ = seq + sequence_file::kRetryBlock;
  set_error(fmt::format("{}: after a reboot the worker takes the next sequence number from the "
                        "highest in the disk cache; numbers of delivered messages may repeat",
                        why));
}

}  // namespace robustmq
