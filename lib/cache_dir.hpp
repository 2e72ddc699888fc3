// The cache directory of a client: created 0700 and checked to be ours, then locked so that one
// live client uses it at a time.
#pragma once

#include <filesystem>

namespace robustmq {

// Creates the cache directory (0700) if needed and checks that it is ours.
std::filesystem::path prepare_cache_dir(const std::filesystem::path& dir);

// One live client per cache directory: an flock held by the client and (through the inherited
// descriptor) by its worker. Whoever of them lives keeps the lock.
int lock_cache_dir(const std::filesystem::path& dir);

}  // namespace robustmq
