// Running robustmq-cache and robustmq-stat from an integration test (the real tools, named by
// ROBUSTMQ_CACHE_TOOL and ROBUSTMQ_STAT), and parsing what they print as JSON.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <utility>

#include <doctest/doctest.h>

namespace robustmq::test {

// What the shell command `cmd` printed on stdout, and its wait status.
inline std::pair<std::string, int> command_output(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return {out, st};
}

// What `TOOL ARGS` printed and its exit status, TOOL being the program the environment variable
// `tool_env` names; stderr goes through a file in `scratch`. Under timeout(1): a tool that
// blocks fails the test instead of hanging it (status 124).
struct ToolRun {
  int status = -1;
  std::string out, err;
};
// `prefix` goes before TOOL (setpriv ..., to run it as another user).
inline ToolRun run_tool(const char* tool_env, const std::string& args,
                        const std::filesystem::path& scratch, const std::string& prefix = "") {
  const char* tool = std::getenv(tool_env);
  REQUIRE_MESSAGE(tool != nullptr, tool_env, " is not set");
  const auto err = scratch / "stderr";
  const std::string cmd = "timeout 60 " + prefix + std::string(tool) + " " + args + " 2>'" +
                          err.string() + "'";
  ToolRun ran;
  int st = 0;
  std::tie(ran.out, st) = command_output(cmd);
  REQUIRE(WIFEXITED(st));
  ran.status = WEXITSTATUS(st);
  std::ifstream in(err);
  ran.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return ran;
}
inline ToolRun run_cache_tool(const std::string& args, const std::filesystem::path& scratch) {
  return run_tool("ROBUSTMQ_CACHE_TOOL", args, scratch);
}

// Python's json module parses `text` (JSON Lines if `lines`: d is then the list of objects)
// and prints repr() of `expr` over d; a parse error fails the test.
inline std::string parsed(const std::filesystem::path& scratch, const std::string& text,
                          bool lines, const std::string& expr) {
  const auto in = scratch / "in.json";
  { std::ofstream(in) << text; }
  const std::string load = lines ? "[json.loads(l) for l in sys.stdin if l.strip()]"
                                 : "json.load(sys.stdin)";
  const std::string cmd = "python3 -c 'import base64, json, sys; d = " + load +
                          "; print(repr(" + expr + "))' <'" + in.string() + "'";
  auto [out, st] = command_output(cmd);
  REQUIRE_MESSAGE(st == 0, "python3 could not parse: ", text);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace robustmq::test
