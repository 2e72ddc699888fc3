#!/usr/bin/env bash
# Renders each man page (scdoc output, as `meson install` installs it) with mandoc and fails on
# any message of warning level or worse, except "skipping paragraph macro": scdoc starts every
# paragraph with .P, also right after a section heading, which mandoc's style check reports.
set -euo pipefail
status=0
for page in "$@"; do
  out=$(mandoc -T lint -W warning "$page" 2>&1 || true)
  real=$(grep -v 'skipping paragraph macro' <<<"$out" || true)
  if [[ -n "$real" ]]; then
    echo "$real"
    status=1
  fi
  # It renders to text, with its NAME section. Rendered whole first: `| grep -q` would leave at
  # its first match, and the writer's SIGPIPE fails the pipeline under pipefail.
  text=$(mandoc -T utf8 "$page" | sed 's/.\x08//g')
  [[ $'\n'$text == *$'\nNAME\n'* ]] || { echo "$page: no NAME section when rendered"; status=1; }
done
exit "$status"
