// The drop journal: <cache_path>/robustmq.drops, the sequence numbers of messages that left
// without being delivered, as ranges with their reason, kept across lives of the application.
// The worker writes it (worker/drops.hpp); the client's event thread follows it (lib/
// receipts.hpp), RobustClient::drop_journal() and `robustmq-cache drops DIR` read it.
//
// The file is a ring of kSlots fixed-size records, kFileBytes in all, allocated when the file
// is created (so that a full disk cannot keep a drop from being recorded). Record number
// `serial` (1, 2, ...) lives in slot serial % kSlots: the journal keeps the newest kSlots
// records and overwrites the oldest. The writer extends its newest record in place while drops
// come contiguous and of one reason (a ttl sweep of a million messages is one record).
//
// A record, 48 bytes, little-endian (the byte order of every machine RobustMQ runs on; the
// file does not travel):
//   offset size field
//   0      8    serial     1, 2, ... (0: the slot was never written)
//   8      8    first      the first sequence number of the range
//   16     8    last       the last one (>= first)
//   24     8    time_ns    CLOCK_REALTIME of the newest drop in the range
//   32     1    reason     DropReason, by number (below)
//   33     1    version    kRecordVersion
//   34     1    code       MQTT 5 reason code of a refusal, else 0
//   35     5    zero
//   40     8    check      FNV-1a 64 of bytes 0..39
// A record whose check fails was torn by a writer that died mid-write, or is being rewritten
// now (a reader then reads it again), or was damaged on the disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace robustmq::journal {

inline constexpr const char* kFileName = "robustmq.drops";
inline constexpr std::size_t kSlots = 4096;
inline constexpr std::size_t kRecordBytes = 48;
inline constexpr std::size_t kFileBytes = kSlots * kRecordBytes;  // 192 KiB
inline constexpr std::uint8_t kRecordVersion = 1;

// Why messages left undelivered. Stored by number: never renumber. Mirrors
// robustmq::DropReason (client.hpp), which static_asserts the numbers.
enum class Reason : std::uint8_t {
  expired = 0,   // older than Options::message_ttl
  overflow = 1,  // dropped to keep the cache within Options::max_cache_bytes
  damaged = 2,   // a damaged record, a large message whose file is missing or truncated
  refused = 3,   // the broker refused it for good (MQTT 5 reason code >= 0x80, `code`)
  unknown = 4,   // numbers whose fate is unknown: lost with a damaged ring range, or left
                 // between the cache's last number and a new segment's first after a reboot
};

struct Record {
  std::uint64_t serial = 0;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::int64_t time_ns = 0;
  Reason reason = Reason::unknown;
  std::uint8_t code = 0;
  friend bool operator==(const Record&, const Record&) = default;
};

// The 48 bytes of `r` (check included), and back: false when the check fails, the version is
// unknown, the reason is out of range, serial is 0 or last < first.
void encode(const Record& r, unsigned char (&out)[kRecordBytes]) noexcept;
bool decode(const unsigned char (&in)[kRecordBytes], Record& r) noexcept;

std::filesystem::path file_path(const std::filesystem::path& cache_dir);

// Reads a journal without changing it; safe while a worker writes it.
class Reader {
 public:
  // Opens <cache_dir>/robustmq.drops read-only, O_NOFOLLOW | O_NONBLOCK: a symbolic link, a FIFO
  // or anything else that is not a regular file of kFileBytes is refused (error set, nullopt).
  // A missing file: nullopt with error == std::errc::no_such_file_or_directory.
  static std::optional<Reader> open(const std::filesystem::path& cache_dir,
                                    std::error_code& error);
  Reader(Reader&& o) noexcept;
  Reader& operator=(Reader&& o) noexcept;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader();

  // Every intact record, by serial, oldest first. `damaged`, if given, counts slots that were
  // written but fail their check.
  std::vector<Record> all(std::size_t* damaged = nullptr) const;

  enum class Slot { intact, empty, overwritten, damaged, unreadable };
  // The record numbered `serial`: intact (r set); empty (its slot holds an older record or
  // none: not written yet); overwritten (its slot holds a newer one); damaged (the check
  // fails: torn, being rewritten, or damaged for good); unreadable (pread failed).
  Slot read(std::uint64_t serial, Record& r) const;

 private:
  explicit Reader(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

// The worker's side. One writer per cache directory (the worker holds the directory's lock).
class Writer {
 public:
  // Opens or creates (0600, O_NOFOLLOW, allocated to kFileBytes) the journal and finds its
  // newest intact record. Error: nullopt, `error` set and `what` naming the file and the cause.
  static std::optional<Writer> open(const std::filesystem::path& cache_dir,
                                    std::error_code& error, std::string& what);
  Writer(Writer&& o) noexcept;
  Writer& operator=(Writer&& o) noexcept;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  // Writes `r` in slot r.serial % kSlots (r.serial is the newest serial or the next one:
  // rewriting the newest record extends it). False (errno kept) when the write failed.
  bool write(const Record& r);
  // The newest record written or found at open (serial 0: none).
  const Record& newest() const noexcept { return newest_; }
  // Whether the file was found whole at open: not created, cut short or repaired by it (a
  // journal created now knows nothing of drops recorded before in a file since removed).
  bool found_whole() const noexcept { return found_whole_; }
  // The record that writing serial `serial` would overwrite, if its slot holds an intact one.
  std::optional<Record> overwrites(std::uint64_t serial) const;
  // fdatasync. False on failure.
  bool sync();

 private:
  explicit Writer(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
  Record newest_{};
  bool found_whole_ = false;
};

}  // namespace robustmq::journal
