// The worker's side of large messages (proto/large_message.hpp has the format and the rules):
// maps a reference's file for sending and deletes it when asked (release()), which the loop
// does only once the broker acknowledged its message or the message was dropped. The window's
// entry of a large message carries its reference (window.hpp), so no other record is kept.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/large_message.hpp"
#include "proto/record_format.hpp"

namespace robustmq::worker {

class LargeFiles {
 public:
  explicit LargeFiles(std::filesystem::path cache_dir) : cache_dir_(std::move(cache_dir)) {}

  // A large payload mapped read-only (page cache, no heap copy); unmapped on destruction.
  class Mapped {
   public:
    Mapped(const void* data, std::size_t size) noexcept : data_(data), size_(size) {}
    Mapped(Mapped&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
    Mapped& operator=(Mapped&& o) noexcept {
      std::swap(data_, o.data_);
      std::swap(size_, o.size_);
      return *this;
    }
    Mapped(const Mapped&) = delete;
    Mapped& operator=(const Mapped&) = delete;
    ~Mapped();
    std::string_view bytes() const noexcept {
      return {static_cast<const char*>(data_), size_};
    }

   private:
    const void* data_;
    std::size_t size_;
  };

  // Maps the file of `reference` (rule 4 of large_message.hpp): nullopt with `why` set when the
  // reference is damaged, the file is missing or is not of the size the reference records (a
  // truncated file is deleted: it can never be sent).
  std::optional<Mapped> map(std::string_view reference, std::string& why) const;

  // Deletes the file of `reference`: the one place files of messages go, once the message
  // retired acknowledged (Loop::retire(), after the tail or the cache moved past it) or was
  // dropped (Drops::drop()). A file already gone is no error.
  void release(std::string_view reference) const;
  // The file of `reference` is on disk (for the loop's invariant 6).
  bool exists(std::string_view reference) const;
  // fdatasyncs the files referenced by large messages of `batch` and fsyncs large/ (their
  // names), before the cache commits the references. Throws std::runtime_error naming the file.
  void sync(std::span<const record::MessageView> batch) const;
  // How much longer than cache_timeout the acknowledgement of a large payload of `bytes` may
  // take: 1 s per 2 MiB. Paho alone writes a large PUBLISH at a few MB/s (it continues a partial
  // write once per cycle of its receive thread, which waits up to 1 s for input); with the
  // waker (paho_waker.hpp) it goes at the link's pace, but a slow link, or a waker that could
  // not start, must not make the loop send it again forever.
  static std::chrono::milliseconds ack_grace(std::size_t bytes) {
    return std::chrono::milliseconds(bytes / (2048 * 1024 / 1000));
  }
  // The payload bytes a reference stands for (0 for a damaged reference).
  static std::uint64_t payload_bytes(std::string_view reference);
  // Bytes of every complete large-message file on disk: what max_cache_bytes counts for them.
  std::uint64_t disk_bytes() const;

  // Deletes the .msg files that nothing can refer to any more. Call it only when the ring, the
  // cache and the in-flight window are all empty: then a file is referenced by nobody, unless
  // its producer (the pid in its name) is still alive and between the rename and the push of
  // rule 1 of large_message.hpp. So a file whose producer is gone is an orphan — left by a
  // producer killed in that window, or by a worker killed between an acknowledgement and the
  // deletion — and is deleted. A reused pid only keeps a file longer. Returns {files, bytes}.
  std::pair<std::size_t, std::uint64_t> sweep_orphans() const;

 private:
  std::filesystem::path cache_dir_;
};

}  // namespace robustmq::worker
