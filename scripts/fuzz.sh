#!/bin/bash
# fuzz.sh FUZZTIME: run every fuzz target of the module for FUZZTIME each;
# fail only on a wrong result (a failing input, a failing seed, a build
# error), never because the machine was slow.
#
# Go's fuzz coordinator (internal/fuzz, up to go1.26) can report the end of
# a duration -fuzztime as a failure: when the deadline passes, it may see
# its timeout context done before the workers' child context is, and so
# returns the bare "context deadline exceeded" (golang/go#75804). The
# window is wider the busier the machine. That failure names no input,
# prints no file:line and writes nothing to testdata/fuzz, so it is told
# apart exactly and counted as the normal end of the run.
set -u
GO=${GO:-go}
fuzztime=${1:?usage: fuzz.sh FUZZTIME}

# deadline_only FILE TARGET: whether the output in FILE fails TARGET with
# nothing but the coordinator's deadline.
deadline_only() {
	local file=$1 target=$2
	[ "$(grep -c '^--- FAIL' "$file")" = 1 ] || return 1
	grep -q 'Failing input written to' "$file" && return 1
	[ "$(grep -A1 "^--- FAIL: $target (" "$file" | sed -n 2p)" = "    context deadline exceeded" ]
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for pkg in $($GO list ./...); do
	targets=$($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz') || continue
	for f in $targets; do
		echo "== $pkg $f"
		$GO test -run '^$' -fuzz "^$f\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"
		if [ "${PIPESTATUS[0]}" != 0 ]; then
			if deadline_only "$out" "$f"; then
				echo "== $f: the fuzz coordinator reported its own deadline (golang/go#75804); no input failed"
				continue
			fi
			exit 1
		fi
	done
done
