// Version 2 records of the file log (file_log_format.hpp): runs of an anchor and delta records,
// varints, topics by reference within a run, CRCs chained within a run.
#include <algorithm>
#include <cstring>
#include <optional>

#include "worker/cache/crc32c.hpp"
#include "worker/cache/file_log_codec.hpp"

namespace robustmq::cache::file_log {
namespace {

constexpr std::uint8_t kKnownFlags =
    kQosMask | kRetainBit | kLargeBit | kTopicInlineBit | kAnchorBit | kMarkerMask;

std::uint64_t zigzag(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// A record's head is assembled here before it is appended (no allocation per record).
struct Head {
  unsigned char bytes[kMaxHeadBytes]{};
  std::size_t size = 0;
  void varint(std::uint64_t v) noexcept {
    while (v >= 0x80) {
      bytes[size++] = static_cast<unsigned char>(v | 0x80);
      v >>= 7;
    }
    bytes[size++] = static_cast<unsigned char>(v);
  }
};

// Reads varints and fixed fields from a byte range; a read past its end sets `short_`, a
// varint longer than 10 bytes sets `bad_`. Never reads outside the range.
class Reader {
 public:
  Reader(const unsigned char* p, std::size_t n) : p_(p), end_(p + n) {}
  std::uint64_t varint() noexcept {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) {
        short_ = true;
        return 0;
      }
      const unsigned char b = *p_++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    bad_ = true;
    return 0;
  }
  std::uint32_t u32() noexcept {
    if (end_ - p_ < 4) {
      short_ = true;
      p_ = end_;
      return 0;
    }
    std::uint32_t v;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return v;
  }
  bool failed() const noexcept { return short_ || bad_; }
  bool short_read() const noexcept { return short_; }
  const unsigned char* at() const noexcept { return p_; }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
  bool short_ = false;
  bool bad_ = false;
};

std::uint32_t chained_crc(std::uint64_t salt, bool anchor, std::uint32_t prev_crc,
                          const unsigned char* from4, std::size_t n) noexcept {
  unsigned char s[12];
  std::memcpy(s, &salt, 8);
  std::memcpy(s + 8, &prev_crc, 4);
  return crc32c::mask(crc32c::extend(crc32c::value(s, anchor ? 8 : 12), from4, n));
}

std::optional<std::size_t> find_topic(const Chain& chain, std::string_view topic) noexcept {
  for (std::size_t i = 0; i < chain.topics.size(); ++i)
    if (chain.topics[i] == topic) return i;
  return std::nullopt;
}

}  // namespace

void encode_record(const SegmentBase& seg, Chain& chain, bool anchor, std::uint64_t id,
                   std::uint64_t end_bytes, const record::MessageView& m,
                   std::vector<unsigned char>& out) {
  check_message(m, id);
  anchor = anchor || !chain.valid || chain.run_bytes >= kRunBytes;
  if (anchor) chain.reset();
  const std::optional<std::size_t> ref = anchor ? std::nullopt : find_topic(chain, m.topic);

  // The fields after the body length, up to the payload.
  // The fields after the body length, up to the topic or payload; then the flags and body.
  Head fields;
  std::size_t head_crc_at = 0;
  if (anchor) {
    fields.varint(id - seg.first_id);
    fields.varint(m.seq);
    fields.varint(zigzag(m.enqueue_ns));
    fields.varint(end_bytes - seg.base_bytes);
    head_crc_at = fields.size;
    fields.size += 4;  // head_crc, below
  } else {
    fields.varint(zigzag(static_cast<std::int64_t>(m.seq - (chain.seq + 1))));
    fields.varint(zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(m.enqueue_ns) -
                                                   static_cast<std::uint64_t>(chain.enqueue_ns))));
  }
  fields.varint(ref ? *ref : m.topic.size());
  const std::size_t body = fields.size + (ref ? 0 : m.topic.size()) + m.payload.size();
  const std::uint8_t flags = static_cast<std::uint8_t>(
      (m.qos & kQosMask) | (m.retain ? kRetainBit : 0) | (m.large ? kLargeBit : 0) |
      (ref ? 0 : kTopicInlineBit) | (anchor ? kAnchorBit : 0) | kMarker);

  Head start;  // crc (below), flags, body
  start.size = 4;
  start.bytes[4] = flags;
  ++start.size;
  start.varint(body);
  const std::size_t at = out.size();
  out.insert(out.end(), start.bytes, start.bytes + start.size);
  out.insert(out.end(), fields.bytes, fields.bytes + fields.size);
  if (anchor) {
    // head_crc covers flags, body and the anchor's fields.
    head_crc_at += at + start.size;
    const std::uint32_t hc =
        chained_crc(seg.salt, true, 0, out.data() + at + 4, head_crc_at - at - 4);
    std::memcpy(out.data() + head_crc_at, &hc, 4);
  }
  if (!ref) out.insert(out.end(), m.topic.begin(), m.topic.end());
  out.insert(out.end(), m.payload.begin(), m.payload.end());
  const std::size_t total = out.size() - at;
  const std::uint32_t crc =
      chained_crc(seg.salt, anchor, chain.crc, out.data() + at + 4, total - 4);
  std::memcpy(out.data() + at, &crc, 4);

  chain.valid = true;
  chain.id = id;
  chain.seq = m.seq;
  chain.enqueue_ns = m.enqueue_ns;
  chain.end_bytes = end_bytes;
  chain.crc = crc;
  chain.run_bytes += total;
  if (!ref && chain.topics.size() < kRunTopics) chain.topics.emplace_back(m.topic);
}

Decoded decode_record(const SegmentBase& seg, const Chain& chain, Bytes bytes) noexcept {
  Decoded d;
  if (bytes.size() < 6) {
    d.status = Decode::truncated;
    return d;
  }
  // Cheap checks first: they reject almost every wrong offset while probing for an anchor
  // after damage, before a CRC is computed.
  const std::uint8_t flags = bytes[4];
  const bool anchor = (flags & kAnchorBit) != 0;
  const bool inline_topic = (flags & kTopicInlineBit) != 0;
  if ((flags & kMarkerMask) != kMarker || (flags & ~kKnownFlags) != 0 ||
      (flags & kQosMask) == 3 || (!anchor && !chain.valid) || (anchor && !inline_topic))
    return d;
  Reader r(bytes.data() + 5, bytes.size() - 5);
  const std::uint64_t body = r.varint();
  if (r.failed()) {
    d.status = r.short_read() ? Decode::truncated : Decode::bad;
    return d;
  }
  const std::size_t body_at = static_cast<std::size_t>(r.at() - bytes.data());
  if (body > kMaxRecordBytes - body_at) return d;
  const std::size_t total = body_at + static_cast<std::size_t>(body);
  // From here on no field may run past the record's own end.
  Reader f(r.at(), std::min<std::size_t>(body, bytes.size() - body_at));
  RecordInfo h;
  if (anchor) {
    const std::uint64_t id_delta = f.varint();
    h.seq = f.varint();
    h.enqueue_ns = unzigzag(f.varint());
    const std::uint64_t end_delta = f.varint();
    const std::size_t head_crc_at = static_cast<std::size_t>(f.at() - bytes.data());
    const std::uint32_t head_crc = f.u32();
    if (f.failed()) {
      d.status = f.short_read() && bytes.size() < total ? Decode::truncated : Decode::bad;
      return d;
    }
    if (head_crc != chained_crc(seg.salt, true, 0, bytes.data() + 4, head_crc_at - 4)) return d;
    if (id_delta > UINT64_MAX - seg.first_id || end_delta > UINT64_MAX - seg.base_bytes) return d;
    h.id = seg.first_id + id_delta;
    h.end_bytes = seg.base_bytes + end_delta;
  } else {
    h.id = chain.id + 1;
    h.seq = chain.seq + 1 + static_cast<std::uint64_t>(unzigzag(f.varint()));
    h.enqueue_ns = static_cast<std::int64_t>(static_cast<std::uint64_t>(chain.enqueue_ns) +
                                             static_cast<std::uint64_t>(unzigzag(f.varint())));
  }
  const std::uint64_t topic_field = f.varint();
  if (f.failed()) {
    d.status = f.short_read() && bytes.size() < total ? Decode::truncated : Decode::bad;
    return d;
  }
  if (inline_topic ? topic_field == 0 || topic_field > UINT16_MAX
                   : topic_field >= chain.topics.size())
    return d;
  const std::size_t topic_at = static_cast<std::size_t>(f.at() - bytes.data());
  const std::size_t topic_in_record = inline_topic ? static_cast<std::size_t>(topic_field) : 0;
  if (topic_at + topic_in_record > total) return d;
  if (bytes.size() < total) {
    d.status = Decode::truncated;
    d.need = total;
    return d;
  }
  std::uint32_t crc;
  std::memcpy(&crc, bytes.data(), 4);
  if (crc != chained_crc(seg.salt, anchor, chain.crc, bytes.data() + 4, total - 4)) return d;

  auto chars = reinterpret_cast<const char*>(bytes.data());
  d.topic = inline_topic ? std::string_view(chars + topic_at, topic_in_record)
                         : std::string_view(chain.topics[static_cast<std::size_t>(topic_field)]);
  d.payload = std::string_view(chars + topic_at + topic_in_record,
                               total - topic_at - topic_in_record);
  if (anchor) {
    if (h.end_bytes - seg.base_bytes < d.topic.size() + d.payload.size()) return d;
  } else {
    h.end_bytes = chain.end_bytes + d.topic.size() + d.payload.size();
  }
  h.total_bytes = static_cast<std::uint32_t>(total);
  h.topic_bytes = static_cast<std::uint16_t>(d.topic.size());
  h.payload_bytes = static_cast<std::uint32_t>(d.payload.size());
  h.flags = flags & (kQosMask | kRetainBit | kLargeBit);
  d.status = Decode::ok;
  d.header = h;
  d.anchor = anchor;
  d.topic_inline = inline_topic;
  d.crc = crc;
  return d;
}

void follow(Chain& chain, const Decoded& d) {
  if (d.anchor) chain.reset();
  // An inline topic enters the table before the chain moves on: d.topic may not point into it.
  if (d.topic_inline && chain.topics.size() < kRunTopics) chain.topics.emplace_back(d.topic);
  chain.valid = true;
  chain.id = d.header.id;
  chain.seq = d.header.seq;
  chain.enqueue_ns = d.header.enqueue_ns;
  chain.end_bytes = d.header.end_bytes;
  chain.crc = d.crc;
  chain.run_bytes += d.header.total_bytes;
}

}  // namespace robustmq::cache::file_log
