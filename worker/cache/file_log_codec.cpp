#include "worker/cache/file_log_codec.hpp"

#include <cstddef>
#include <cstring>

#include <fmt/format.h>

#include "worker/cache/cache.hpp"
#include "worker/cache/crc32c.hpp"

namespace robustmq::cache::file_log {
namespace {

// The record CRC starts from the salt, so a record is valid only in a segment with that salt.
std::uint32_t record_crc(std::uint64_t salt, const unsigned char* from4, std::size_t n) noexcept {
  unsigned char s[8];
  std::memcpy(s, &salt, 8);
  return crc32c::mask(crc32c::extend(crc32c::value(s, 8), from4, n));
}

template <class T>
T load(const unsigned char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void check_message(const record::MessageView& m, std::uint64_t id) {
  if (m.topic.empty() || m.topic.size() > UINT16_MAX)
    throw CacheError(fmt::format("cannot cache message {}: topic of {} bytes", id, m.topic.size()));
  if (m.qos < 0 || m.qos > 2)
    throw CacheError(fmt::format("cannot cache message {}: QoS {}", id, m.qos));
  if (m.payload.size() > kMaxRecordBytes - kMaxHeadBytes - m.topic.size())
    throw CacheError(fmt::format("cannot cache message {}: payload of {} bytes exceeds {}", id,
                                 m.payload.size(), kMaxRecordBytes));
}

void encode_record_v1(std::uint64_t salt, std::uint64_t id, std::uint64_t end_bytes,
                      const record::MessageView& m, std::vector<unsigned char>& out) {
  check_message(m, id);
  const std::size_t total = record_bytes_v1(m.topic.size(), m.payload.size());
  RecordHeader h{};
  h.total_bytes = static_cast<std::uint32_t>(total);
  h.id = id;
  h.seq = m.seq;
  h.enqueue_ns = m.enqueue_ns;
  h.end_bytes = end_bytes;
  h.payload_bytes = static_cast<std::uint32_t>(m.payload.size());
  h.topic_bytes = static_cast<std::uint16_t>(m.topic.size());
  h.flags = static_cast<std::uint8_t>((m.qos & kQosMask) | (m.retain ? kRetainBit : 0) |
                                      (m.large ? kLargeBit : 0));
  h.type = kTypeMessage;

  const std::size_t at = out.size();
  out.resize(at + total);  // zero-fills the padding
  unsigned char* p = out.data() + at;
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + kRecordHeaderBytes, m.topic.data(), m.topic.size());
  if (!m.payload.empty())
    std::memcpy(p + kRecordHeaderBytes + m.topic.size(), m.payload.data(), m.payload.size());
  const std::uint32_t crc = record_crc(salt, p + 4, total - 4);
  std::memcpy(p, &crc, 4);
}

Decoded decode_record_v1(std::uint64_t salt, Bytes bytes) noexcept {
  Decoded d;
  if (bytes.size() < kRecordHeaderBytes) {
    d.status = Decode::truncated;
    return d;
  }
  RecordHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  // Cheap plausibility checks first: they reject almost every wrong offset while probing for the
  // next record after damage, before a CRC is computed.
  if (h.type != kTypeMessage || (h.flags & ~(kQosMask | kRetainBit | kLargeBit)) != 0 ||
      (h.flags & kQosMask) == 3 || h.topic_bytes == 0 || h.total_bytes > kMaxRecordBytes ||
      h.payload_bytes > kMaxRecordBytes ||
      h.total_bytes != record_bytes_v1(h.topic_bytes, h.payload_bytes)) {
    return d;
  }
  if (bytes.size() < h.total_bytes) {
    d.status = Decode::truncated;
    d.need = h.total_bytes;
    return d;
  }
  if (record_crc(salt, bytes.data() + 4, h.total_bytes - 4) != h.crc) return d;
  // Padding is covered by the CRC, so it is zero; topic and payload are where the sizes say.
  auto chars = reinterpret_cast<const char*>(bytes.data()) + kRecordHeaderBytes;
  d.status = Decode::ok;
  d.header = RecordInfo{h.total_bytes, h.id,           h.seq,         h.enqueue_ns,
                        h.end_bytes,   h.payload_bytes, h.topic_bytes, h.flags};
  d.topic = std::string_view(chars, h.topic_bytes);
  d.payload = std::string_view(chars + h.topic_bytes, h.payload_bytes);
  return d;
}

std::vector<unsigned char> encode_segment_header(std::uint64_t salt, std::uint64_t first_id,
                                                 std::uint64_t base_bytes, std::uint16_t version) {
  SegmentHeader h{};
  h.magic = kSegmentMagic;
  h.version = version;
  h.salt = salt;
  h.first_id = first_id;
  h.base_bytes = base_bytes;
  std::vector<unsigned char> out(kSegmentDataStart);
  std::memcpy(out.data(), &h, sizeof h);
  h.crc = crc32c::mask(crc32c::value(out.data(), offsetof(SegmentHeader, crc)));
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + kSegmentHeaderBytes, &h, sizeof h);
  return out;
}

std::optional<SegmentHeader> decode_segment_header(Bytes bytes) noexcept {
  for (std::size_t at = 0; at + kSegmentHeaderBytes <= bytes.size() && at < kSegmentDataStart;
       at += kSegmentHeaderBytes) {
    const unsigned char* p = bytes.data() + at;
    auto h = load<SegmentHeader>(p);
    if (h.magic == kSegmentMagic && (h.version == kVersion || h.version == kVersion1) &&
        h.crc == crc32c::mask(crc32c::value(p, offsetof(SegmentHeader, crc))))
      return h;
  }
  return std::nullopt;
}

std::vector<unsigned char> encode_cursor(std::uint64_t removed_id, std::uint64_t removed_bytes) {
  CursorFile c{};
  c.magic = kCursorMagic;
  c.version = kCursorVersion;
  c.removed_id = removed_id;
  c.removed_bytes = removed_bytes;
  std::vector<unsigned char> out(kCursorBytes);
  std::memcpy(out.data(), &c, sizeof c);
  c.crc = crc32c::mask(crc32c::value(out.data(), offsetof(CursorFile, crc)));
  std::memcpy(out.data(), &c, sizeof c);
  return out;
}

std::optional<CursorFile> decode_cursor(Bytes bytes) noexcept {
  if (bytes.size() != kCursorBytes) return std::nullopt;
  auto c = load<CursorFile>(bytes.data());
  if (c.magic != kCursorMagic || c.version != kCursorVersion ||
      c.crc != crc32c::mask(crc32c::value(bytes.data(), offsetof(CursorFile, crc))))
    return std::nullopt;
  return c;
}

std::string segment_name(std::uint64_t first_id) { return fmt::format("log-{:016x}.rml", first_id); }

std::optional<std::uint64_t> parse_segment_name(std::string_view name) noexcept {
  constexpr std::string_view kPrefix = "log-", kSuffix = ".rml";
  if (name.size() != kPrefix.size() + 16 + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix))
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : name.substr(kPrefix.size(), 16)) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

}  // namespace robustmq::cache::file_log
