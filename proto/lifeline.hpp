// What travels over the lifeline socket once the worker runs (before that: the configuration
// and the start-up lines of worker/main.cpp).
//
// Application -> worker: one byte per request, except the credentials answer.
//   'w'  wake up (a record waits in the ring)        'f'  flush         'd'  resend dead letters
//   's'  stop                                         'h'  hand off (the worker becomes an orphan)
//   'K' u32 n, n bytes user name, u32 m, m bytes password    new credentials (little endian)
//   'N'                                               no new credentials: keep the last ones
// Worker -> application:
//   ENQ (0x05)  a connection attempt is due and ControlLine::credentials_handler is set: call the
//               handler. The application answers each ENQ with one 'K' or 'N', in order, on its
//               monitor thread; it sends every byte of the lifeline under one mutex, so a 'K'
//               answer is never split by another thread's wake-up byte.
// Every other byte from the application is a wake-up; nothing else comes from the worker.
// An older worker never sends ENQ, so it never sees 'K' (whose password could hold an 'h').
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace robustmq::lifeline {

inline constexpr char kWake = 'w';
inline constexpr char kFlush = 'f';
inline constexpr char kResendDead = 'd';
inline constexpr char kStop = 's';
inline constexpr char kHandOff = 'h';
inline constexpr char kCredentials = 'K';
inline constexpr char kNoCredentials = 'N';
inline constexpr char kAskCredentials = '\x05';

// MQTT strings and binary data: at most 65535 bytes each.
inline constexpr std::size_t kMaxCredentialBytes = 65535;

struct Credentials {
  std::string username;
  std::string password;
};

// The 'K' answer. Both must be at most kMaxCredentialBytes (the client checks).
std::string encode_credentials(std::string_view username, std::string_view password);

// The worker's reader of the application's bytes: fed whatever recv() returned, in order; an
// answer split across reads is completed by the next feed().
class Reader {
 public:
  struct Result {
    bool handed_off = false;       // an 'h'
    std::size_t answers = 0;       // 'K' and 'N' answers completed by this feed
    std::optional<Credentials> credentials;  // the newest 'K' among them
    bool malformed = false;        // a 'K' with a length over kMaxCredentialBytes: the rest of
                                   // the stream is read as wake-up bytes from the next 'K'/'N'
                                   // on (the worker goes on with its last credentials)
  };
  Result feed(std::string_view bytes);

 private:
  enum class Part : std::uint8_t { none, user_len, user, pass_len, pass } part_ = Part::none;
  std::uint32_t need_ = 0;     // bytes still wanted of the current part
  std::uint32_t length_ = 0;   // a length being read, little endian
  Credentials partial_;
};

}  // namespace robustmq::lifeline
