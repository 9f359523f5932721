#!/usr/bin/env bash
# The full `make test`, timed at two or more commits in one command, so that the times
# are taken on the same machine under the same load (it is shared and noisy).
#
#   bash bench/suite_time.sh BASE_REV HEAD_REV [REV...]
#
# Each revision is cloned into /tmp/suite-time-REV and installed (not timed); then
# `make test` runs at each revision in the order given, and a line per revision gives
# its wall time, the number of tests and the time per test.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ "$#" -ge 2 ] || { echo "usage: bench/suite_time.sh BASE_REV HEAD_REV [REV...]" >&2; exit 2; }
for rev in "$@"; do
  dir="/tmp/suite-time-$rev"
  rm -rf "$dir"
  git clone -q "$repo" "$dir"
  git -C "$dir" checkout -q "$rev"
  make -C "$dir" install >/dev/null
done
results=()
for rev in "$@"; do
  dir="/tmp/suite-time-$rev"
  start=$(date +%s.%N)
  status=0
  make -C "$dir" test PYTEST_ARGS="-q -p no:cacheprovider --junitxml=$dir/junit.xml" \
    >"$dir/make-test.log" 2>&1 || status=$?
  end=$(date +%s.%N)
  tests=$(python3 -c "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); s = r if r.tag == 'testsuite' else r[0]; print(int(s.get('tests')) - int(s.get('skipped')))" "$dir/junit.xml")
  line=$(python3 -c "import sys; w, n = float(sys.argv[1]), int(sys.argv[2]); print(f'{sys.argv[3]}: {w:.0f} s wall, {n} tests run, {1000 * w / n:.0f} ms per test, exit {sys.argv[4]}')" "$(echo "$end - $start" | bc)" "$tests" "$rev" "$status")
  echo "$line"
  results+=("$line")
done
echo "== summary (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${results[@]}"
