#include "testkit/sequence.hpp"

#include <charconv>
#include <sstream>

namespace robustmq::testkit {
namespace {

// "3, 7-9, 12" for the numbers in 0..n-1 that never occur in seqs; at most max_ranges ranges.
std::string describe_missing(const std::vector<bool>& present, std::size_t max_ranges = 10) {
  std::ostringstream out;
  std::size_t ranges = 0, total = 0;
  for (std::uint64_t i = 0; i < present.size(); ++i) {
    if (present[i]) continue;
    std::uint64_t j = i;
    while (j + 1 < present.size() && !present[j + 1]) ++j;
    total += j - i + 1;
    if (ranges < max_ranges) {
      out << (ranges ? ", " : "") << i;
      if (j > i) out << "-" << j;
    } else if (ranges == max_ranges) {
      out << ", ...";
    }
    ++ranges;
    i = j;
  }
  return std::to_string(total) + " missing: " + out.str();
}

}  // namespace

std::string sequence_payload(std::uint64_t seq, std::size_t size) {
  std::string s = std::to_string(seq);
  if (s.size() < size) s.append(size - s.size(), '.');
  return s;
}

std::optional<std::uint64_t> parse_seq(std::string_view payload) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), value);
  if (ec != std::errc{} || ptr == payload.data()) return std::nullopt;
  return value;
}

std::vector<std::uint64_t> sequences(const std::vector<ReceivedMessage>& messages) {
  std::vector<std::uint64_t> out;
  out.reserve(messages.size());
  for (const auto& m : messages) {
    if (auto seq = parse_seq(m.payload)) out.push_back(*seq);
  }
  return out;
}

std::string check_in_order(const std::vector<std::uint64_t>& seqs, std::uint64_t expected_count) {
  std::vector<bool> present(expected_count, false);
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] >= expected_count) {
      return "at index " + std::to_string(i) + ": sequence number " + std::to_string(seqs[i]) +
             " is out of range (expected 0.." + std::to_string(expected_count) + ")";
    }
    present[seqs[i]] = true;
  }

  // Every number below next has been seen, so a number < next is a re-send; anything else must
  // be exactly next.
  std::uint64_t next = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const std::uint64_t s = seqs[i];
    if (s < next) continue;
    if (s == next) {
      ++next;
      continue;
    }
    std::ostringstream out;
    if (!present[next]) {
      out << describe_missing(present) << " (first gap at index " << i << ": " << s
          << " follows " << (next == 0 ? std::string("the start") : std::to_string(next - 1))
          << ")";
    } else {
      std::size_t later = i + 1;
      while (seqs[later] != next) ++later;
      out << "out of order at index " << i << ": got " << s << ", expected " << next
          << " (which arrives later, at index " << later << ")";
    }
    return out.str();
  }
  if (next < expected_count) {
    return describe_missing(present) + " (received " + std::to_string(next) + " of " +
           std::to_string(expected_count) + " in order, then nothing new)";
  }
  return {};
}

}  // namespace robustmq::testkit
