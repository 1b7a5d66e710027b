# prepare.sh - run by t0201 in a copy of this directory before it is
# committed: symlinks that lead out of the context, to $HOSTSIDE (a file
# and a directory t0201 makes on the host, with a marker inside)
ln -s "$HOSTSIDE/file" hostfile
ln -s "$HOSTSIDE/dir" hostdir
