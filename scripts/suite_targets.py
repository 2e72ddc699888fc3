#!/usr/bin/env python3
"""suite_targets.py BUILD_DIR SUITE...: the files ninja builds for the tests of those suites
(each test's executable and the programs it runs, its `depends`), one a line, relative to
BUILD_DIR. scripts/test.sh (the ASan build) and scripts/arm-test.sh build only these."""
import json
import os
import sys

build, suites = sys.argv[1], set(sys.argv[2:])


def intro(kind):
    with open(os.path.join(build, 'meson-info', 'intro-' + kind + '.json')) as f:
        return json.load(f)


files = {t['id']: t['filename'] for t in intro('targets')}
wanted = set()
for test in intro('tests'):
    if suites & {s.split(':')[-1] for s in test['suite']}:
        for dep in test['depends']:
            wanted.update(os.path.relpath(f, build) for f in files[dep])
print('\n'.join(sorted(wanted)))
