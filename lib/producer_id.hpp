// The stream id of Options::dedup_property: <cache_dir>/robustmq.producer, one line of 16
// lowercase hex digits (a random 64-bit number).
//
// A consumer that drops duplicates by (robustmq-producer, robustmq-seq) must never see a number
// of one stream again on a different message. The numbers of a cache directory only increase
// (lib/sequence_file.hpp) as long as the directory keeps its bound, so the stream id lives in
// the same directory: a lost directory loses the id with the numbering, and the next life sends
// under a new id, which consumers take for a new producer. A start without a bound, whose
// numbers may repeat those of messages an earlier life delivered, takes a new id too.
#pragma once

#include <filesystem>
#include <string>

namespace robustmq::producer_id {

inline constexpr const char* kName = "robustmq.producer";

// The stream id of dir: the one in the file; a new one when there is none, when the file is
// damaged (anything but 16 lowercase hex digits and a newline) or when `renew`. A new id is
// written O_EXCL (mode 0600), fsynced with the directory, and read back. `note` says what
// happened when it was not simply read: a damaged file replaced, an id that could not be
// written (this life then sends under an id no later life will use).
std::string stream(const std::filesystem::path& dir, bool renew, std::string& note);

}  // namespace robustmq::producer_id
