// Sequence numbers in payloads, and the check of RobustMQ's "at least once, in order" contract.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "testkit/subscriber.hpp"

namespace robustmq::testkit {

// Payload convention of the tests and the demo: the sequence number in decimal, then optional
// padding ('.') up to size bytes.
std::string sequence_payload(std::uint64_t seq, std::size_t size = 0);
// The leading decimal number of a payload; nullopt if it does not start with a digit.
std::optional<std::uint64_t> parse_seq(std::string_view payload);
// parse_seq of every message, in arrival order; unparsable payloads are skipped.
std::vector<std::uint64_t> sequences(const std::vector<ReceivedMessage>& messages);

// Checks "at least once, in order": every number 0..expected_count-1 appears, and after removing
// repeats of numbers seen earlier (re-sends) the sequence is exactly 0, 1, ..., expected_count-1.
// Returns "" if so, else a description of the first problem (missing numbers, reordering,
// numbers out of range).
std::string check_in_order(const std::vector<std::uint64_t>& seqs, std::uint64_t expected_count);

}  // namespace robustmq::testkit
