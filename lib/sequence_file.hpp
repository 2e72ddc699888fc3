// Sequence numbers across lives: <cache_dir>/robustmq.seq.
//
// publish() numbers messages from ProducerLine::next_seq, which lives in the shared segment and
// so survives a crash of the application or of the worker, not a reboot. robustmq.seq holds a
// bound: no number at or above it was given out. Before publish() hands out a number at or
// above the bound it writes a new bound kLeaseBlock higher (replace_file(): atomic, fsynced when
// Options::cache_sync), so a client that finds no segment (after a reboot) starts at the bound,
// above every number an earlier life used. The numbers a reboot skips are never given out: the
// numbers increase across lives, with gaps.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace robustmq::sequence_file {

inline constexpr const char* kName = "robustmq.seq";
// A write per this many messages; a reboot skips at most this many numbers.
inline constexpr std::uint64_t kLeaseBlock = 1u << 20;
// After a failed write, the next try comes this many messages later.
inline constexpr std::uint64_t kRetryBlock = 1u << 12;

// The bound recorded in dir: 1 when there is no file yet (numbers start at 1; 0 means none).
// nullopt with `why` when the file exists but cannot be read or does not hold a bound.
std::optional<std::uint64_t> read(const std::filesystem::path& dir, std::string& why);

// Records `bound` (see above). False with `why` when it could not be written.
bool write(const std::filesystem::path& dir, std::uint64_t bound, bool sync, std::string& why);

}  // namespace robustmq::sequence_file
