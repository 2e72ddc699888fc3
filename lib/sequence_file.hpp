// Sequence numbers across lives: <cache_dir>/robustmq.seq.
//
// publish() numbers messages from ProducerLine::next_seq, which lives in the shared segment and
// so survives a crash of the application or of the worker, not a reboot. robustmq.seq holds a
// bound: no number at or above it was given out. Before publish() hands out a number at or
// above the bound it writes a new bound kLeaseBlock higher (replace_file(): atomic, fsynced),
// so a client that finds no segment (after a reboot) starts at the bound, above every number an
// earlier life used; a clean stop() writes the exact next number. The numbers a reboot skips
// are never given out: the numbers increase across lives, with gaps.
// Without a usable bound (no file, damage, a failed write, which removes the file) the worker
// raises next_seq above the highest number in the disk cache before the client publishes
// (Loop::init_sequence()), and the client records a bound only after that. If the worker cannot
// read the cache, no bound is recorded in that life.
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

// The bound recorded in dir. nullopt when there is none: no file (`why` empty), or one that
// cannot be read or does not hold a bound (`why` says so).
std::optional<std::uint64_t> read(const std::filesystem::path& dir, std::string& why);

// Records `bound` (see above), fsynced. False with `why` when it could not be written (the
// earlier file, if any, is left as it was).
bool write(const std::filesystem::path& dir, std::uint64_t bound, std::string& why);

// Removes the file (best effort, the removal fsynced): for a bound about to be passed.
void forget(const std::filesystem::path& dir);

}  // namespace robustmq::sequence_file
