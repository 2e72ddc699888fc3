// MQTT framing for the fault proxy: follows the broker→client byte stream of an MQTT 5
// connection packet by packet, as it arrives in pieces of any size, and gives chosen PUBACKs
// another reason code (FaultProxy::rewrite_pubacks()).
//
//   PubackRewriter r;                 // one per connection, from its first byte
//   std::string out;
//   r.feed(bytes_read, out, armed, [&]() -> std::optional<std::uint8_t> { return 0x97; });
//
// Every byte goes on as soon as it is fed, except those of a PUBACK that began while armed: they
// wait until the packet is whole (a few bytes). Unarmed, the output is the input, byte for byte,
// with nothing held back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace robustmq::testkit {

// The control packet type in the high nibble of a fixed header's first byte.
inline constexpr std::uint8_t kMqttPuback = 4;

// The PUBACK `packet` (whole: fixed header, remaining length, variable header, properties) with
// reason code `code`. One that carries a reason keeps its layout; one without (remaining
// length 2, which MQTT 5 reads as success) gets a reason and an empty property list (remaining
// length 4). Nothing when `packet` is not a whole PUBACK of at least a packet identifier.
std::optional<std::string> puback_with_reason(std::string_view packet, std::uint8_t code);

class PubackRewriter {
 public:
  // Asked once for each whole PUBACK held: the reason code to give it, or nothing to let it pass
  // as it is.
  using Take = std::function<std::optional<std::uint8_t>()>;

  // Appends to `out` what of `in` may go on now. A PUBACK whose first byte comes while `armed`
  // is held until whole, then passed on as `take` says.
  void feed(std::string_view in, std::string& out, bool armed, const Take& take);

  // Bytes of the stream were dropped (a blackhole): where packets begin is unknown from here
  // on, so everything passes unchanged. The bytes of a PUBACK being held are dropped with the
  // rest; returns how many. A remaining length longer than MQTT's four bytes has the same
  // effect (those bytes pass on).
  std::size_t lose() noexcept;
  bool lost() const noexcept { return part_ == Part::lost; }

  std::uint64_t packets() const noexcept { return packets_; }  // whole packets passed on

 private:
  enum class Part : std::uint8_t { first_byte, length, body, lost };

  void pass(std::string_view bytes, std::string& out);
  void end_packet(std::string& out, const Take& take);

  Part part_ = Part::first_byte;
  std::uint8_t type_ = 0;
  std::size_t length_ = 0;  // the remaining length (while decoded: so far)
  unsigned length_bytes_ = 0;
  std::size_t left_ = 0;    // of the remaining length, bytes still to come
  bool holding_ = false;
  std::string held_;
  std::uint64_t packets_ = 0;
};

}  // namespace robustmq::testkit
