// libFuzzer target: decode_worker_config(), the worker's parser of the configuration blob it
// reads from the lifeline socket at start-up. Must never crash on any blob; whatever it accepts
// must survive encode() and decode again unchanged (no field is lost or reinterpreted).
//
// Most mutated blobs would fail the magic/length check at once, so each input is decoded twice:
// as given, and with the magic and length fields set to match the blob, which lets the fuzzer
// work on the entries.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "proto/worker_config.hpp"

using namespace robustmq;

namespace {

void check(std::string_view blob) {
  std::string error;
  const auto config = decode_worker_config(blob, error);
  if (!config) {
    if (error.empty()) std::abort();  // every refusal says why
    return;
  }
  const std::string encoded = encode(*config);
  std::string error2;
  const auto again = decode_worker_config(encoded, error2);
  if (!again || encode(*again) != encoded) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  check(raw);
  if (size >= 8 && size <= kMaxConfigBytes) {
    std::string fixed(raw);
    const std::uint32_t magic = kConfigMagic;
    const auto length = static_cast<std::uint32_t>(size);
    std::memcpy(fixed.data(), &magic, 4);
    std::memcpy(fixed.data() + 4, &length, 4);
    check(fixed);
  }
  return 0;
}
