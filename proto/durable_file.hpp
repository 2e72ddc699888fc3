// Small files that must survive a power cut: written whole under a temporary name, synced, and
// renamed over the old one, so a reader finds the old contents or the new, never a mix.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace robustmq {

// fsync of a directory: makes a rename or a new file in it durable.
std::error_code sync_dir(const std::filesystem::path& dir);

// Replaces dir/name with `contents` (mode 0600): written to dir/name.tmp, fdatasync'ed when
// `sync`, renamed, and the directory fsynced when `sync`. On failure returns the error and sets
// `what` to a message naming the file and the step; dir/name is then the old file or absent.
std::error_code replace_file(const std::filesystem::path& dir, std::string_view name,
                             std::string_view contents, bool sync, std::string& what);

}  // namespace robustmq
