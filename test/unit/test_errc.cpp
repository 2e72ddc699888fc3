// Rules of robustmq::errc and its error category (include/robustmq/errc.hpp).
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <system_error>

#include "printers.hpp"
#include "robustmq/errc.hpp"

using robustmq::errc;

namespace {

constexpr int kFirst = static_cast<int>(errc::ok);
constexpr int kLast = static_cast<int>(errc::resend_timeout);

// What the category says for a code it does not know.
std::string fallback_for(int code) { return robustmq::error_category().message(code); }

}  // namespace

TEST_CASE("the category answers an unknown code with a recognisable fallback") {
  // The rule below relies on telling a real message from the fallback; make sure it can.
  const std::string unknown = fallback_for(kLast + 1000);
  CHECK_FALSE(unknown.empty());
  CHECK(unknown.find("unknown") != std::string::npos);
  CHECK(fallback_for(-1).find("unknown") != std::string::npos);
}

TEST_CASE("every error code has its own message") {
  std::set<std::string> seen;
  for (int code = kFirst; code <= kLast; ++code) {
    CAPTURE(code);
    const std::string message = robustmq::error_category().message(code);
    CHECK_FALSE(message.empty());
    CHECK(message.find("unknown") == std::string::npos);
    CHECK(seen.insert(message).second);  // no two codes share a message
    CHECK(make_error_code(static_cast<errc>(code)).message() == message);
  }
  CHECK(seen.size() == static_cast<std::size_t>(kLast - kFirst + 1));
}

TEST_CASE("the error category is named robustmq and is one object") {
  CHECK(std::string(robustmq::error_category().name()) == "robustmq");
  CHECK(&robustmq::error_category() == &robustmq::error_category());
  const std::error_code ec = errc::queue_full;
  CHECK(&ec.category() == &robustmq::error_category());
}

TEST_CASE("an error_code made from errc compares equal to that errc and to nothing else") {
  const std::error_code ec = errc::payload_too_large;  // implicit: errc is an error code enum
  CHECK(ec == errc::payload_too_large);
  CHECK(ec != errc::queue_full);
  CHECK(ec.value() == static_cast<int>(errc::payload_too_large));
  CHECK(ec == robustmq::make_error_code(errc::payload_too_large));
  // The same number in another category is a different error.
  CHECK(ec != std::error_code(ec.value(), std::generic_category()));
  CHECK(ec != std::error_code(ec.value(), std::system_category()));
  CHECK(ec != std::make_error_condition(static_cast<std::errc>(ec.value())));
}

TEST_CASE("errc::ok is falsy and every other code is truthy") {
  CHECK_FALSE(static_cast<bool>(std::error_code(errc::ok)));
  for (int code = kFirst + 1; code <= kLast; ++code) {
    CAPTURE(code);
    CHECK(static_cast<bool>(std::error_code(static_cast<errc>(code))));
  }
}

TEST_CASE("a robustmq error travels in std::system_error with its message") {
  try {
    throw std::system_error(errc::worker_unavailable, "connect_async");
  } catch (const std::system_error& e) {
    CHECK(e.code() == errc::worker_unavailable);
    CHECK(std::string(e.what()).find(e.code().message()) != std::string::npos);
  }
}
