// Internal to the cache library: where each backend keeps its files, and the SQLite factory.
#pragma once

#include <filesystem>
#include <memory>

#include "worker/cache/cache.hpp"

namespace robustmq::cache {

inline constexpr const char* kSqliteFileName = "cache.sqlite3";
inline constexpr const char* kFileLogDirName = "log";

// sqlite_cache.cpp
std::unique_ptr<Cache> open_sqlite(const std::filesystem::path& db_path, const Config& config);

}  // namespace robustmq::cache
