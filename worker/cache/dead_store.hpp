// The dead-letter store: <cache_path>/dead-letters/, the messages the broker refused for good
// (an MQTT 5 reason code >= 0x80 that is not retried, worker/drops.hpp), kept so that they can
// be listed, re-sent or deleted (robustmq-cache dead / resend / dead-delete,
// RobustClient::resend_dead_letters()). The worker keeps them (worker/dead_letters.hpp);
// README "Dead letters" is the user's side.
//
// The store is a file-log cache of its own (file_log.hpp): the same records (CRC32C, a torn tail
// cut, damaged records skipped and counted), the same cache_sync. A record is the message as
// it was published (topic, qos, retain, sequence number, enqueue time) with a 16-byte header
// before its payload, so that the broker's reason code is committed with the message in one
// append (no second file to keep in step with it):
//   0  4  magic      "RMQD"
//   4  1  version    kVersion
//   5  1  code       the broker's MQTT 5 reason code
//   6  2  zero
//   8  8  refused_ns CLOCK_REALTIME of the refusal, little-endian
// A large message is stored with its contents (its file in large/ goes as for any retired
// message): a record of the store is never a large-message reference, so a dead letter fits any
// cache as an inline record (at most kMaxPayloadBytes).
//
// One writer at a time: the worker of the client that holds the cache directory, or one of
// robustmq-cache's writing commands, which take the client lock and the worker lock first.
//
// Removing the oldest dead letters (the bound, a re-send of all of them) is the log's
// remove_through(). Removing some (robustmq-cache dead-delete / resend SEQ...) rewrites the
// store: the ones kept are committed to dead-letters.new/, dead-letters/ is renamed
// dead-letters.old/, dead-letters.new/ dead-letters/, and dead-letters.old/ is deleted.
// recover() repairs a rewrite that a crash cut short: while dead-letters/ exists, .new/ and
// .old/ are leftovers; without it, .new/ is complete (committed before the first rename) and
// becomes dead-letters/. Every opening calls it first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/large_message.hpp"
#include "worker/cache/cache.hpp"

namespace robustmq::dead {

inline constexpr std::string_view kDirName = "dead-letters";
inline constexpr std::size_t kHeaderBytes = 16;
inline constexpr std::uint8_t kVersion = 1;
// A message whose payload is larger is not kept (the largest inline record of either cache).
inline constexpr std::size_t kMaxPayloadBytes = large::kMaxInlinePayloadBytes;

inline std::filesystem::path dir_of(const std::filesystem::path& cache_dir) {
  return cache_dir / kDirName;
}

// A dead letter: the message as published (message.payload without the header, never a
// large-message reference; message.id is its id in the store) and why it is here.
struct Letter {
  cache::CachedMessage message;
  std::uint8_t code = 0;
  std::int64_t refused_ns = 0;
};

// The payload of a record of the store: the header, then `payload`.
std::string encode(std::string_view payload, std::uint8_t code, std::int64_t refused_ns);
// The dead letter a record of the store holds; nullopt when its header is not one (a record
// that is not a dead letter: someone else's bytes).
std::optional<Letter> decode(cache::CachedMessage record);

// Repairs a cut rewrite (above). Throws cache::CacheError naming the directory.
void recover(const std::filesystem::path& cache_dir);

// Opens the store of `cache_dir` (after recover()); null when there is none and `create` is
// false (read-only openings never create). Throws cache::CacheError.
std::unique_ptr<cache::Cache> open(const std::filesystem::path& cache_dir,
                                   const cache::Config& config, bool create);

// Every dead letter of `store`, oldest first; `damaged` (if given) counts records that are not
// dead letters (skipped). The store is bounded (Options::dead_letter_bytes), so it fits in
// memory. Throws cache::CacheError.
std::vector<Letter> read_all(cache::Cache& store, std::size_t* damaged = nullptr);

// Replaces the store of `cache_dir` (closed by the caller) by one holding `keep`, in order, as
// described above. Throws cache::CacheError.
void rewrite(const std::filesystem::path& cache_dir, const cache::Config& config,
             std::span<const Letter> keep);

// The record of the main cache that sends `letter` again: the message as published.
record::MessageView as_message(const Letter& letter);

}  // namespace robustmq::dead
