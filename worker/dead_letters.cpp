#include "worker/dead_letters.hpp"

#include <vector>

#include <fmt/format.h>

#include "worker/cache/dead_store.hpp"
#include "worker/log.hpp"

namespace robustmq::worker {

namespace {
constexpr std::size_t kReadBatch = 256;
// A resend moves at most this many payload bytes per commit of the disk cache.
constexpr std::size_t kResendBatchBytes = 8u << 20;
}  // namespace

DeadLetters::DeadLetters(const WorkerConfig& config, Report& report, const TimeSource& time)
    : config_(config), report_(report), time_(time) {
  report_.status().dead_letters.store(0, std::memory_order_relaxed);
  if (!config_.cache_dir.empty()) open(false, "");
}

bool DeadLetters::open(bool create, const std::string& purpose) {
  if (store_) return true;
  cache::Config cc;
  cc.sync = config_.cache_sync;
  try {
    store_ = dead::open(config_.cache_dir, cc, create);
  } catch (const std::exception& e) {
    failed(fmt::format("{}cannot open the dead-letter store: {}", purpose, e.what()));
    return false;
  }
  if (store_) publish_count();
  return store_ != nullptr;
}

void DeadLetters::failed(const std::string& what) {
  log(Level::error, "{}", what);
  report_.error(what);
  store_.reset();  // a failed write is sticky in the backend (cache.hpp): reopened next time
}

void DeadLetters::publish_count() {
  report_.status().dead_letters.store(store_ ? store_->counts().messages : 0,
                                      std::memory_order_relaxed);
}

bool DeadLetters::keep(const record::MessageView& m, std::uint8_t code) {
  if (!enabled()) return false;
  const std::uint64_t bytes = m.topic.size() + dead::kHeaderBytes + m.payload.size();
  if (bytes > config_.dead_letter_bytes || m.payload.size() > dead::kMaxPayloadBytes) {
    const auto what = fmt::format("refused message (seq {}, {} bytes) not kept as a dead letter: "
                                  "larger than dead_letter_bytes ({})",
                                  m.seq, m.payload.size(), config_.dead_letter_bytes);
    log(Level::warning, "{}", what);
    report_.error(what);
    return false;
  }
  if (!open(true, fmt::format("refused message (seq {}) not kept as a dead letter: ", m.seq)))
    return false;
  try {
    make_room(bytes);
    const std::string payload = dead::encode(m.payload, code, time_.realtime_ns());
    record::MessageView letter = m;
    letter.payload = payload;
    letter.large = false;
    store_->append({&letter, 1});
  } catch (const std::exception& e) {
    failed(fmt::format("cannot keep refused message (seq {}) as a dead letter: {}", m.seq,
                       e.what()));
    return false;
  }
  publish_count();
  log(Level::debug, "refused message (seq {}, code {:#04x}, topic {}) kept as a dead letter", m.seq,
      code, m.topic);
  return true;
}

void DeadLetters::make_room(std::uint64_t incoming) {
  const std::uint64_t limit = config_.dead_letter_bytes;
  const std::uint64_t held = store_->counts().bytes;
  if (held + incoming <= limit) return;
  const std::uint64_t needed = held + incoming - limit;
  std::uint64_t freed = 0;
  std::uint64_t last = 0;
  std::uint64_t removed = 0;
  std::vector<cache::CachedMessage> batch;
  while (freed < needed) {
    batch.clear();
    store_->read(last, kReadBatch, batch);
    if (batch.empty()) break;
    for (const auto& m : batch) {
      freed += m.topic.size() + m.payload.size();
      last = m.id;
      ++removed;
      if (freed >= needed) break;
    }
  }
  if (last == 0) return;
  store_->remove_through(last);
  store_->commit_removals();
  // One line per 5 s: a broker refusing a whole topic fills the store with every message.
  trimmed_unlogged_ += removed;
  const auto now = time_.now();
  if (now - trimmed_logged_at_ < std::chrono::seconds(5)) return;
  log(Level::warning, "removed the {} oldest dead letters to keep the store within "
      "dead_letter_bytes ({}); their refusals stay in the drop journal", trimmed_unlogged_, limit);
  trimmed_unlogged_ = 0;
  trimmed_logged_at_ = now;
}

bool DeadLetters::resend(Spooler& spooler, std::uint64_t& moved) {
  if (!open(false, "resend of the dead letters: ")) return true;  // none: nothing to move
  std::vector<cache::CachedMessage> records;
  std::vector<dead::Letter> letters;
  std::vector<record::MessageView> batch;
  try {
    for (;;) {
      records.clear();
      letters.clear();
      batch.clear();
      std::size_t bytes = 0;
      std::uint64_t last = 0;
      std::size_t damaged = 0;
      // Read up to a batch; the views below point into `letters`, filled first.
      while (bytes < kResendBatchBytes) {
        const std::size_t before = records.size();
        store_->read(last, kReadBatch, records);
        if (records.size() == before) break;
        for (std::size_t i = before; i < records.size(); ++i) bytes += records[i].payload.size();
        last = records.back().id;
      }
      if (records.empty()) break;
      for (auto& r : records) {
        if (auto l = dead::decode(std::move(r))) letters.push_back(std::move(*l));
        else ++damaged;
      }
      for (const auto& l : letters) batch.push_back(dead::as_message(l));
      if (!batch.empty() && !spooler.append_resent(batch)) return false;
      if (damaged > 0)
        log(Level::warning, "{} records of the dead-letter store are not dead letters: removed",
            damaged);
      store_->remove_through(last);
      store_->commit_removals();
      moved += batch.size();
      publish_count();
    }
  } catch (const std::exception& e) {
    // The request ends here (what was moved stays moved): a store that cannot be read must not
    // hold the ring back (Loop::ring_sendable()) until someone repairs it.
    failed(fmt::format("cannot move the dead letters back into the disk cache: {}", e.what()));
  }
  publish_count();
  return true;
}

}  // namespace robustmq::worker
