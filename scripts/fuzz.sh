#!/usr/bin/env bash
# Fuzzes each fuzz target of the module for a set time, one after the other.
#
#   scripts/fuzz.sh            # every target, 60s each
#   FUZZTIME=10m scripts/fuzz.sh
#   scripts/fuzz.sh FuzzDecodeEnvelope FuzzSplitFrame
#
# A failure stops the script; `go test` has then written the crashing input
# under <package>/testdata/fuzz/<Target>/, where plain `go test` replays it
# from then on. Commit it with the fix, as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-60s}"

# Every Fuzz function of the module, as "package target".
list_targets() {
	go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
		# A package without tests (or without targets) makes grep fail,
		# which pipefail and -e would turn into the end of the list.
		{ grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null || true; } |
			sed 's/^func //' | sed "s|^|$pkg |"
	done
}

want=("$@")
ran=0
while read -r pkg target; do
	[ -n "$target" ] || continue
	if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $target "* ]]; then
		continue
	fi
	echo "== $pkg $target ($FUZZTIME)"
	go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME"
	ran=$((ran + 1))
done < <(list_targets)

if [ "$ran" -eq 0 ]; then
	echo "fuzz.sh: no fuzz target matched ${want[*]:-}" >&2
	exit 1
fi
echo "fuzz.sh: $ran target(s) fuzzed for $FUZZTIME each, no failure"
