// The lifeline's bytes from the application to the worker (proto/lifeline.hpp): wake-ups, the
// hand-off and credentials answers, however recv() cuts them.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proto/lifeline.hpp"

namespace robustmq::lifeline {

namespace {

// Feeds `bytes` in pieces of `piece` bytes and adds up the results.
Reader::Result feed_in_pieces(Reader& r, const std::string& bytes, std::size_t piece) {
  Reader::Result total;
  for (std::size_t i = 0; i < bytes.size(); i += piece) {
    auto got = r.feed(std::string_view(bytes).substr(i, piece));
    total.handed_off = total.handed_off || got.handed_off;
    total.answers += got.answers;
    total.malformed = total.malformed || got.malformed;
    if (got.credentials) total.credentials = std::move(got.credentials);
  }
  return total;
}

}  // namespace

TEST_CASE("a credentials answer is read whole however it is cut, wake-up bytes around it") {
  const std::string password("h\0K\x05N", 5);  // bytes that mean something outside an answer
  const std::string stream = "wwf" + encode_credentials("device-\xE2\x82\xAC", password) + "dw";
  for (std::size_t piece : {1u, 2u, 3u, 7u, 4096u}) {
    CAPTURE(piece);
    Reader r;
    const auto got = feed_in_pieces(r, stream, piece);
    CHECK_FALSE(got.handed_off);
    CHECK_FALSE(got.malformed);
    CHECK(got.answers == 1);
    REQUIRE(got.credentials.has_value());
    CHECK(got.credentials->username == "device-\xE2\x82\xAC");
    CHECK(got.credentials->password == password);
  }
}

TEST_CASE("'N' is an answer without credentials; 'h' outside an answer is the hand-off") {
  Reader r;
  auto got = r.feed("wNh");
  CHECK(got.answers == 1);
  CHECK_FALSE(got.credentials.has_value());
  CHECK(got.handed_off);
}

TEST_CASE("empty and 65535-byte values; several answers in one read: the newest wins") {
  Reader r;
  const std::string longest(kMaxCredentialBytes, 'x');
  auto got = r.feed(encode_credentials("", "") + encode_credentials("a", longest) + "N");
  CHECK(got.answers == 3);
  REQUIRE(got.credentials.has_value());
  CHECK(got.credentials->username == "a");
  CHECK(got.credentials->password == longest);
  got = r.feed(encode_credentials("", ""));
  REQUIRE(got.credentials.has_value());
  CHECK(got.credentials->username.empty());
  CHECK(got.credentials->password.empty());
}

TEST_CASE("a length over 65535 is malformed: counted as an answer, no credentials, and the "
          "reader goes on") {
  Reader r;
  std::string bad = "K";
  bad += std::string("\x00\x00\x01\x00", 4);  // 65536
  auto got = r.feed(bad);
  CHECK(got.malformed);
  CHECK(got.answers == 1);
  CHECK_FALSE(got.credentials.has_value());
  got = r.feed(encode_credentials("u", "p"));
  CHECK(got.answers == 1);
  REQUIRE(got.credentials.has_value());
  CHECK(got.credentials->password == "p");
}

}  // namespace robustmq::lifeline
