// A disk cache that fails on command, for the loop's tests.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "worker/cache/cache.hpp"

namespace robustmq::test {

// A cache whose writes (and, if asked, reads) fail while `failing` is set: a disk that fails,
// which a test cannot arrange for real without root. Reopening (cache::open) gives the loop a
// real cache again.
class FailingCache final : public cache::Cache {
 public:
  FailingCache(std::unique_ptr<cache::Cache> inner, bool& failing, bool reads_fail = false)
      : inner_(std::move(inner)), failing_(failing), reads_fail_(reads_fail) {}
  std::uint64_t append(std::span<const record::MessageView> batch) override {
    if (failing_) throw cache::CacheError("append: No space left on device");
    return inner_->append(batch);
  }
  void read(std::uint64_t after, std::size_t max, std::vector<cache::CachedMessage>& out) override {
    if (failing_ && reads_fail_) throw cache::CacheError("read: Input/output error");
    inner_->read(after, max, out);
  }
  void remove_through(std::uint64_t id) override {
    if (failing_) throw cache::CacheError("remove: Input/output error");
    inner_->remove_through(id);
  }
  void commit_removals() override {
    if (failing_) throw cache::CacheError("commit: Input/output error");
    inner_->commit_removals();
  }
  cache::Counts counts() const override { return inner_->counts(); }
  cache::Backend backend() const noexcept override { return inner_->backend(); }
  std::optional<std::uint64_t> newest_seq() override {
    if (failing_ && reads_fail_) throw cache::CacheError("read: Input/output error");
    return inner_->newest_seq();
  }

 private:
  std::unique_ptr<cache::Cache> inner_;
  bool& failing_;
  bool reads_fail_;
};

}  // namespace robustmq::test
