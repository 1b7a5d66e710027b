#!/bin/sh
# t0198-default-store: with GOVC_STORE set, commands that take a store use
# it when given none (init, mount, images, import, repos, du, log), and a
# store named on the command line still wins.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 7
export GOVC_STORE="$T/default"
check "govc init makes the default store" sh -c "'$GOVC' init && [ -f '$T/default/data.mdb' ]"
mkdir "$T/m2"
check "govc mount MNT mounts it" sh -c "'$GOVC' mount '$T/m2' && mkdir '$T/m2/repos/r' && echo hi > '$T/m2/repos/r/f'"
i=0; while [ "$("$GOVC" log r 2>/dev/null | wc -l)" -lt 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "govc log REPO reads its history" sh -c "'$GOVC' log r | grep -q 'A f'"
check "govc repos lists its repositories" sh -c "[ \"\$('$GOVC' repos)\" = r ]"
check "a store named on the command line still wins" sh -c "[ -z \"\$('$GOVC' repos '$S')\" ]"
check "govc du works on it" sh -c "'$GOVC' du | grep -q '^in use'"
check "govc umount needs no store" "$GOVC" umount "$T/m2"
