// The worker's disk cache: one interface, two backends (SQLite and a raw-file segment log).
//
// Rules every backend keeps (test/cache/ runs the same contract tests against both):
//   1. Order: read() returns messages in the order they were appended, oldest first.
//   2. append() of a batch is one commit: when it returns, the whole batch is durable to the
//      degree the sync setting promises (fsync/fdatasync by default), or it throws and none of
//      the batch may be assumed stored.
//   3. Nothing is removed except by remove_through(id) after the broker acknowledged every
//      message up to id; a removal may become durable lazily (at the next commit or close):
//      after a power cut an acknowledged message may come back once, an unacknowledged one
//      never disappears.
//   4. Opening never fails because of damaged content: a torn tail is cut, damaged records are
//      skipped and counted, a database that cannot be used is renamed aside and a fresh one
//      started. It throws only when the directory itself is unusable, or when recovering from
//      damage needs a write that fails (a full disk): the next open resumes the recovery.
//   5. Opening does not scan the whole cache: start-up time does not grow with the backlog.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "proto/record_format.hpp"

namespace robustmq::cache {

struct CachedMessage {
  // Strictly increasing in append order, never reused within a cache: after a reopen that
  // recovered from damage too, new ids are above every id given out before.
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  std::int64_t enqueue_ns = 0;
  int qos = 0;
  bool retain = false;
  bool large = false;  // payload is a large-message reference (proto/large_message.hpp)
  std::string topic;
  std::string payload;
};

struct Counts {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;            // topic + payload bytes of the messages held (a large
                                      // message's payload here is its reference, not its file)
  std::uint64_t damaged_skipped = 0;  // records found damaged and skipped since open
};

enum class Backend { sqlite, file };

struct Config {
  // true: fsync/fdatasync each commit (power-cut safe). false: leave it to the OS.
  bool sync = true;
  // true: inspect only (robustmq-cache). Nothing is created, repaired, truncated, renamed or
  // deleted; damage is skipped in memory; append() and remove_through() throw CacheError.
  // Opening throws CacheError when there is no cache of that backend or it cannot be read.
  bool read_only = false;
};

// I/O failures (disk full, EIO) surface as this; the message names the file and the cause.
class CacheError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Cache {
 public:
  virtual ~Cache() = default;

  // Appends the batch in order as one commit. Returns the id given to the last message.
  virtual std::uint64_t append(std::span<const record::MessageView> batch) = 0;

  // Appends to `out` up to max_messages messages with id > after_id, oldest first.
  virtual void read(std::uint64_t after_id, std::size_t max_messages,
                    std::vector<CachedMessage>& out) = 0;

  // Forgets every message with id <= id (they were acknowledged). May leave the removal
  // pending (rule 3): backends apply removals at most every 100 ms.
  virtual void remove_through(std::uint64_t id) = 0;

  // Applies the removals remove_through() left pending, so that a crash of this process cannot
  // bring them back (a power cut may, until the next synced commit: rule 3). The worker calls
  // it once removals have waited 100 ms, which bounds what a worker kill sends again.
  virtual void commit_removals() = 0;

  virtual Counts counts() const = 0;
  virtual Backend backend() const noexcept = 0;

  // The sequence number of the newest message held (the last appended and not yet removed),
  // found without reading the cache through; nullopt when the cache is empty or the backend
  // cannot tell cheaply (a caller then reads through with read()).
  virtual std::optional<std::uint64_t> newest_seq() = 0;
};

// Opens (creating if needed) the cache of the given backend inside `dir`, which exists.
std::unique_ptr<Cache> open(Backend backend, const std::filesystem::path& dir,
                            const Config& config);

}  // namespace robustmq::cache
