#!/bin/sh
# t0015-permissions: a mount only root can reach goes without the kernel's
# permission checks (default_permissions) and answers access(2) itself; with
# allow_other the kernel checks permissions as before.
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "not root"
setup
plan 5

W=$M/repos/p
mkdir "$W"
opts=$(grep " $M fuse" /proc/mounts | cut -d' ' -f4)
check "only root reaches it: no default_permissions ($opts)" \
	sh -c "! echo '$opts' | tr ',' '\n' | grep -qx default_permissions"
echo data > "$W/plain"
chmod 644 "$W/plain"
printf '#!/bin/sh\necho ran\n' > "$W/tool"
chmod 744 "$W/tool"
check "access(2) as root: X_OK only with an execute bit; R_OK and W_OK always" \
	sh -c "[ ! -x '$W/plain' ] && [ -x '$W/tool' ] && [ -r '$W/plain' ] && [ -w '$W/plain' ] && [ -x '$W' ]"
check "and the kernel still refuses to execute a file without one" \
	sh -c "! '$W/plain' 2>/dev/null && [ \"\$('$W/tool')\" = ran ]"
check "ACLs are not supported (so ls -l stops asking)" \
	sh -c "! getfattr -n system.posix_acl_access '$W/plain' 2>'$T/acl.err' && grep -qi 'not supported' '$T/acl.err'"
"$GOVC" umount "$M"
"$GOVC" mount -o "$(mount_opts),allow_other" "$S" "$M"
opts=$(grep " $M fuse" /proc/mounts | cut -d' ' -f4)
check "with allow_other the kernel checks permissions, and creates work ($opts)" \
	sh -c "echo '$opts' | tr ',' '\n' | grep -qx default_permissions && mkdir '$W/d' && echo x > '$W/d/new' && [ \"\$(cat '$W/d/new')\" = x ]"
