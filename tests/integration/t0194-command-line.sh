#!/bin/sh
# t0194-command-line: the command line teaches.  Every command `govc
# --help` lists answers --help (exit 0, a usage line, every option its
# usage error shows); a mount point given as a store, and arguments in
# the wrong order, get advice naming what was meant; the daemon is named
# govc in ps.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 7

cmds=$("$GOVC" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' | sort -u)
bad=
for c in $cmds; do
	"$GOVC" "$c" --help > "$T/help.out" 2>&1 && grep -q '^usage: govc' "$T/help.out" ||
		{ bad="$bad $c"; continue; }
	# every option a usage error names is in --help too
	"$GOVC" "$c" --no-such-option > "$T/usage.out" 2>&1 || true
	for o in $(grep -o -- '--[a-z][a-z-]*\|\[-[a-zA-Z]\b' "$T/usage.out" | tr -d '[' | sort -u); do
		case $o in --no-such-option | --help) continue ;; esac
		grep -q -- "$o" "$T/help.out" || bad="$bad $c($o)"
	done
done
check "every command's --help works and lists its options (failed:${bad:- none})" test -z "$bad"
check "there are at least 13 commands" test "$(echo "$cmds" | wc -l)" -ge 13
check_fails "a mount point given as a store is refused" "$GOVC" repos "$M"
cp "$T/check.out" "$T/mp.out"
check "naming the store that is mounted there" grep -q "where store '$S' is mounted.*govc repos $S" "$T/mp.out"
check_fails "an image name given as a store is refused" "$GOVC" rmi busybox:1.0 "$S"
cp "$T/check.out" "$T/swap.out"
check "saying the store comes first, not to create one" sh -c "grep -q 'the store comes first' '$T/swap.out' && ! grep -q 'govc init' '$T/swap.out'"
check "the daemon shows as govc in ps" test "$(ps -o comm= -p "$(daemon_pid "$S")")" = govc
