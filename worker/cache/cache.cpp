#include "worker/cache/cache.hpp"

#include "worker/cache/backends.hpp"
#include "worker/cache/file_log.hpp"

namespace robustmq::cache {

std::unique_ptr<Cache> open(Backend backend, const std::filesystem::path& dir,
                            const Config& config) {
  switch (backend) {
    case Backend::sqlite:
      return open_sqlite(dir / kSqliteFileName, config);
    case Backend::file:
      return std::make_unique<file_log::FileLog>(dir, config);
  }
  throw CacheError("unknown cache backend");
}

}  // namespace robustmq::cache
