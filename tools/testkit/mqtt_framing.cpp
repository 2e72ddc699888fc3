#include "testkit/mqtt_framing.hpp"

#include <algorithm>

namespace robustmq::testkit {
namespace {

constexpr unsigned kMaxLengthBytes = 4;  // MQTT's remaining length: at most 268,435,455

}  // namespace

std::optional<std::string> puback_with_reason(std::string_view packet, std::uint8_t code) {
  if (packet.empty() || static_cast<std::uint8_t>(packet[0]) >> 4 != kMqttPuback)
    return std::nullopt;
  std::size_t length = 0, header = 1;  // the first byte, then the remaining length's bytes
  for (bool more = true; more; ++header) {
    if (header > kMaxLengthBytes || header >= packet.size()) return std::nullopt;
    const auto b = static_cast<std::uint8_t>(packet[header]);
    length |= static_cast<std::size_t>(b & 0x7f) << (7 * (header - 1));
    more = (b & 0x80) != 0;
  }
  if (length != packet.size() - header || length < 2) return std::nullopt;
  if (length == 2) {
    // Packet identifier only: add the reason and a property length of 0.
    std::string out{packet[0], 4};
    out += packet.substr(header, 2);
    out += static_cast<char>(code);
    out += '\0';
    return out;
  }
  std::string out(packet);
  out[header + 2] = static_cast<char>(code);
  return out;
}

void PubackRewriter::feed(std::string_view in, std::string& out, bool armed, const Take& take) {
  std::size_t i = 0;
  while (i < in.size()) {
    switch (part_) {
      case Part::lost:
        out.append(in.substr(i));
        return;
      case Part::first_byte:
        type_ = static_cast<std::uint8_t>(static_cast<std::uint8_t>(in[i]) >> 4);
        holding_ = armed && type_ == kMqttPuback;
        length_ = 0;
        length_bytes_ = 0;
        pass(in.substr(i++, 1), out);
        part_ = Part::length;
        break;
      case Part::length: {
        const auto b = static_cast<std::uint8_t>(in[i]);
        pass(in.substr(i++, 1), out);
        length_ |= static_cast<std::size_t>(b & 0x7f) << (7 * length_bytes_);
        ++length_bytes_;
        if ((b & 0x80) == 0) {
          left_ = length_;
          part_ = Part::body;
          if (left_ == 0) end_packet(out, take);
        } else if (length_bytes_ == kMaxLengthBytes) {
          // Not MQTT: let what is held and everything after it through unchanged.
          out += held_;
          held_.clear();
          holding_ = false;
          part_ = Part::lost;
        }
        break;
      }
      case Part::body: {
        const std::size_t n = std::min(left_, in.size() - i);
        pass(in.substr(i, n), out);
        i += n;
        left_ -= n;
        if (left_ == 0) end_packet(out, take);
        break;
      }
    }
  }
}

std::size_t PubackRewriter::lose() noexcept {
  const std::size_t dropped = held_.size();
  held_.clear();
  holding_ = false;
  part_ = Part::lost;
  return dropped;
}

void PubackRewriter::pass(std::string_view bytes, std::string& out) {
  (holding_ ? held_ : out).append(bytes);
}

void PubackRewriter::end_packet(std::string& out, const Take& take) {
  if (holding_) {
    // `take` is asked only for a PUBACK that can carry a reason: a count of rewrites is not
    // spent on a malformed one.
    std::optional<std::string> rewritten;
    if (length_ >= 2) {
      if (auto code = take()) rewritten = puback_with_reason(held_, *code);
    }
    out += rewritten ? *rewritten : held_;
    held_.clear();
    holding_ = false;
  }
  ++packets_;
  part_ = Part::first_byte;
}

}  // namespace robustmq::testkit
