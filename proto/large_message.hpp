// Large messages: payloads above Options::large_message_bytes live in a file of their own in
// <cache_dir>/large/, and only a small reference record travels through the ring and the disk
// cache, in its place in the order of messages. Format version 1.
//
// Files in <cache_dir>/large/ (directory 0700, files 0600):
//   <enqueue_ns>-<pid>-<n>.msg   a complete payload; referenced by one ring or cache record
//   <enqueue_ns>-<pid>-<n>.tmp   a payload being written by publish(); never referenced
//
// Lifecycle (what must hold at every instant, whichever process dies):
//   1. publish() writes the .tmp file (O_EXCL, 0600), fsyncs it if the durability mode asks,
//      renames it to .msg, and only then pushes the reference record into the ring. A producer
//      killed before the push leaves a .tmp file (or, in a window of a few instructions, an
//      unreferenced .msg file), never a reference to a half-written file.
//   2. connect_async() deletes every .tmp file: no publish() of this cache path runs then (the
//      cache lock), so any .tmp file is a dead producer's.
//   3. The worker deletes a .msg file only after the broker acknowledged its message (or the
//      message was dropped: expired, over max_cache_bytes); a worker that dies before that
//      leaves file and reference in place and its successor sends the message again, whole.
//   4. A reference whose file is missing, or not of the size the reference records, is a
//      damaged record: counted in dropped_invalid, logged, skipped.
//   5. A .msg file that nothing refers to (its producer died before the push, or a worker died
//      between an acknowledgement and the deletion) is deleted by a worker whose ring, cache
//      and window are empty, once the producer named in it is gone
//      (LargeFiles::sweep_orphans()).
//
// Reference payload (the record's payload when its large bit is set):
//   0   u64  size         payload bytes in the file
//   8   ...  name         the file's name in large/, [0-9a-z-]+ ".msg", at most kMaxNameBytes
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace robustmq::large {

inline constexpr std::string_view kDirName = "large";
inline constexpr std::string_view kFileSuffix = ".msg";
inline constexpr std::string_view kTempSuffix = ".tmp";
inline constexpr std::size_t kSizeBytes = 8;
inline constexpr std::size_t kMaxNameBytes = 64;
inline constexpr std::size_t kMaxReferenceBytes = kSizeBytes + kMaxNameBytes;

// Options::large_message_bytes may be at most this: a payload above it always goes to a file,
// so that every record of the ring fits in one record of either cache backend (the file log
// stores records of at most 256 MiB, worker/cache/file_log_format.hpp asserts the margin).
inline constexpr std::size_t kMaxInlinePayloadBytes = 128u << 20;

// MQTT's largest packet: a remaining length of at most 268,435,455 bytes.
inline constexpr std::uint64_t kMqttMaxRemainingLength = 268'435'455;

// The largest payload a PUBLISH with this topic can carry: the remaining length minus the topic
// (with its 2-byte length), the packet id (2 bytes, counted even for QoS 0) and
// `properties_bytes` (MQTT 5: the properties with their length field; 0 for MQTT 3.1.1).
constexpr std::uint64_t max_mqtt_payload(std::size_t topic_bytes, std::size_t properties_bytes) {
  const std::uint64_t overhead = 2 + std::uint64_t{topic_bytes} + 2 + properties_bytes;
  return overhead >= kMqttMaxRemainingLength ? 0 : kMqttMaxRemainingLength - overhead;
}

struct Reference {
  std::uint64_t size = 0;
  std::string name;  // in large/
};

std::string encode(const Reference& r);
// nullopt when `payload` is not a well-formed reference (damage, or someone else's bytes),
// including a size above kMqttMaxRemainingLength.
std::optional<Reference> decode(std::string_view payload);

inline std::filesystem::path dir_of(const std::filesystem::path& cache_dir) {
  return cache_dir / kDirName;
}

// Creates <cache_dir>/large (0700) if missing and deletes every .tmp file in it (rule 2).
// Returns how many it deleted. Throws std::system_error naming the directory.
std::size_t prepare_dir(const std::filesystem::path& cache_dir);

// Writes `payload` to a new .msg file in <cache_dir>/large (rule 1). `sync`: fdatasync the
// file and fsync the directory before returning. On failure returns nullopt with `ec` and
// `what` (naming the file) set, and leaves no file behind.
std::optional<Reference> write_file(const std::filesystem::path& cache_dir,
                                    std::string_view payload, std::int64_t enqueue_ns, bool sync,
                                    std::error_code& ec, std::string& what);

// Deletes the file of `r` (errors other than ENOENT are returned).
std::error_code remove_file(const std::filesystem::path& cache_dir, const Reference& r);

}  // namespace robustmq::large
