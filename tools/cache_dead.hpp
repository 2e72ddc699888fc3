// robustmq-cache's dead-letter commands (worker/cache/dead_store.hpp is the store):
//
//   robustmq-cache dead DIR                        one line per dead letter, oldest first
//   robustmq-cache dead-delete DIR (--all | SEQ...) deletes them
//   robustmq-cache resend DIR (--all | SEQ...)      moves them into DIR's disk cache, behind its
//                                                  backlog: the next client sends them
//
// `dead` reads the store read-only (safe next to a running worker). A line is
//   seq=N code=0xNN qos=N [retain] size=N age=N.Ns refused=YYYY-MM-DDTHH:MM:SSZ topic=T
// (age since publish(), refused the time of the refusal, UTC). No store: nothing on stdout, a
// note on stderr, exit 0.
//
// The writing commands must not race a worker: they take the cache directory's client lock
// (lib/cache_dir.hpp) and its worker lock (a worker whose application exited holds only that
// one), without waiting; either held: exit 3 and a message saying what to do. `resend` appends
// to the main cache first and removes from the store after (a crash in between sends a message
// twice, never loses one); a selection of SEQs rewrites the store (dead_store.hpp).
// Exit codes: 0 ok, 1 usage, 2 cannot open, read or write (or a SEQ that is no dead letter:
// nothing is changed then), 3 a client or its worker uses DIR.
#pragma once

#include <filesystem>
#include <span>
#include <string_view>

namespace robustmq::tools {

// `cmd` is dead, dead-delete or resend; `args` what follows DIR. Returns the exit code.
int dead_command(std::string_view cmd, const std::filesystem::path& dir,
                 std::span<char* const> args);

}  // namespace robustmq::tools
