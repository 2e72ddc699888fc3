#include "lib/sequence_file.hpp"

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
    if (!std::filesystem::exists(path, ec) && !ec) return 1;
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

bool write(const std::filesystem::path& dir, std::uint64_t bound, bool sync, std::string& why) {
  return !replace_file(dir, kName, fmt::format("{}{}\n", kHeader, bound), sync, why);
}

}  // namespace robustmq::sequence_file

// The client's side: the numbering of a client continues that of earlier lives.
namespace robustmq {

void RobustClient::Impl::start_sequence(bool new_segment) {
  auto& next = seg().producer.next_seq;
  std::string why;
  const auto bound = sequence_file::read(cache_dir_, why);
  if (!bound)
    set_error(fmt::format("{}: sequence numbers continue from the shared segment's; after a "
                          "reboot they may repeat numbers of messages an earlier life sent",
                          why));
  // A segment adopted from an earlier life holds its next number, below the bound: the
  // numbering goes on from there. A new one (after a reboot) starts at the bound. (An adopted
  // segment of a release without sequence numbers holds 0.)
  std::uint64_t first = new_segment ? bound.value_or(1) : next.load();
  if (first == 0) first = bound.value_or(1);
  next.store(first, std::memory_order_release);
  if (bound && first < *bound) seq_bound_ = *bound;
  else lease_sequence(first);
}

void RobustClient::Impl::lease_sequence(std::uint64_t seq) {
  std::string why;
  if (sequence_file::write(cache_dir_, seq + sequence_file::kLeaseBlock, options.cache_sync,
                           why)) {
    seq_bound_ = seq + sequence_file::kLeaseBlock;
    return;
  }
  // Numbering goes on (a message is not refused for this), and so do the tries.
  seq_bound_ = seq + sequence_file::kRetryBlock;
  set_error(fmt::format("{}: after a reboot sequence numbers may repeat numbers given out "
                        "since", why));
}

}  // namespace robustmq
