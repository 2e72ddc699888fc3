#include "proto/lifeline.hpp"

#include <algorithm>
#include <utility>

namespace robustmq::lifeline {

namespace {
void put_u32(std::string& out, std::size_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
}  // namespace

std::string encode_credentials(std::string_view username, std::string_view password) {
  std::string out;
  out.reserve(9 + username.size() + password.size());
  out.push_back(kCredentials);
  put_u32(out, username.size());
  out.append(username);
  put_u32(out, password.size());
  out.append(password);
  return out;
}

Reader::Result Reader::feed(std::string_view bytes) {
  Result r;
  std::size_t i = 0;
  while (i < bytes.size()) {
    switch (part_) {
      case Part::none: {
        const char c = bytes[i++];
        if (c == kHandOff) {
          r.handed_off = true;
        } else if (c == kNoCredentials) {
          ++r.answers;
        } else if (c == kCredentials) {
          partial_ = {};
          part_ = Part::user_len;
          need_ = 4;
          length_ = 0;
        }
        break;
      }
      case Part::user_len:
      case Part::pass_len: {
        length_ |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i++]))
                   << (8 * (4 - need_));
        if (--need_ > 0) break;
        if (length_ > kMaxCredentialBytes) {
          // Not from a client of this protocol: no answer to use, but an answer all the same
          // (the worker must not wait for it).
          r.malformed = true;
          ++r.answers;
          part_ = Part::none;
          break;
        }
        const bool user = part_ == Part::user_len;
        part_ = user ? Part::user : Part::pass;
        need_ = length_;
        length_ = 0;
        if (need_ == 0 && !user) {
          part_ = Part::none;
          ++r.answers;
          r.credentials = std::exchange(partial_, Credentials{});
        } else if (need_ == 0) {
          part_ = Part::pass_len;
          need_ = 4;
        }
        break;
      }
      case Part::user:
      case Part::pass: {
        const std::size_t take = std::min<std::size_t>(need_, bytes.size() - i);
        (part_ == Part::user ? partial_.username : partial_.password).append(bytes.substr(i, take));
        i += take;
        need_ -= static_cast<std::uint32_t>(take);
        if (need_ > 0) break;
        if (part_ == Part::user) {
          part_ = Part::pass_len;
          need_ = 4;
        } else {
          part_ = Part::none;
          ++r.answers;
          r.credentials = std::exchange(partial_, Credentials{});
        }
        break;
      }
    }
  }
  return r;
}

}  // namespace robustmq::lifeline
