// robustmq-pub's options file, which parse() (pub_args.cpp) reads before the command line: where
// it is, its words, and which of its options the command line replaces.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace robustmq::pub {

// getopt_long's codes of the options without a short form, after the short ones' characters.
enum Option : int {
  kCacheDir = 1000, kCacheType, kTimeout, kProgress, kHelpOpt, kVersion, kDrain, kHandOff,
  kDrainRate, kDrainRateBytes, kProxy, kCafile, kInsecure, kAlpn, kCiphers, kPwFile, kTlsVersion,
  kRepeat, kRepeatDelay, kQuiet, kCapath, kCert, kKey, kWillTopic, kWillPayload, kWillQos,
  kWillRetain, kMaxInflight, kTtl, kMaxCacheBytes, kJournal, kUnix,
  // Not a getopt code: -D publish content-type, which -D publish user-property does not replace.
  kContentType
};

// The words of the options file: those of `path` (-o FILE: it must be readable), else of
// $XDG_CONFIG_HOME/robustmq-pub, else of ~/.config/robustmq-pub, if there is one. `used` is set
// to the file read, "" if none.
std::vector<std::string> options_file_words(const std::optional<std::string>& path,
                                            std::string& used);

// Whether the file's option `option` gives way to the command line, whose options were `given`:
// the command line gave the same option, or one that excludes it (-m, -l, -f, -s, -n and
// --drain one another; -h and -p exclude -L and -L both; -P and --pw-file one another).
bool replaced(int option, const std::set<int>& given);

// Prints "robustmq-pub: WHAT" (naming the options file while it is read) and exits with
// kUsage (pub_args.cpp).
[[noreturn]] void usage_error(const std::string& what);

}  // namespace robustmq::pub
