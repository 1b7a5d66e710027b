/*
 * govc.h - the command-line program: one function per subcommand.
 *
 * Each cmd_* gets argv with argv[0] the subcommand name, prints its own
 * --help, reports errors on stderr as "govc <cmd>: <what>: <why>" and
 * returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef GOVC_TOOLS_H
#define GOVC_TOOLS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* govc_fail - print "govc: MSG" to stderr; returns 1. */
int govc_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* govc_human_size - N bytes as "1.2MB" (decimal units) into BUF. */
void govc_human_size(char *buf, size_t len, uint64_t n);

/* govc_progress_done - on a terminal, a blob's bytes, time and rate
 * (struct oci_import_opts.progress_done) */
struct oci_descriptor;
void govc_progress_done(void *arg, const char *what, const struct oci_descriptor *d,
			double seconds);

/* govc_wants_help - 1 if argv holds -h or --help. */
int govc_wants_help(int argc, char **argv);

/* store and repositories: tools/cmd_store.c (rm-repo, mv-repo too) */
int cmd_init(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_repos(int argc, char **argv);
int cmd_rm_repo(int argc, char **argv);
int cmd_mv_repo(int argc, char **argv);

/* mounting: tools/cmd_mount.c
 * govc_mount_source: the store directory of the govc mount at MNT (an
 * absolute path) into OUT; 0, or -1 if MNT is no govc mount. */
int govc_mount_source(const char *mnt, char *out, size_t len);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);

/* git interchange and checking: tools/cmd_git.c
 * cmd_git_import: govc import STORE git:DIR REPO
 * cmd_git_export: govc export STORE REPO git:DIR */
int cmd_git_import(int argc, char **argv);
int cmd_git_export(int argc, char **argv);
int cmd_fsck(int argc, char **argv);

/* OCI images: tools/cmd_oci.c
 * cmd_oci_import: govc import STORE oci:DIR[:TAG]|docker-archive:FILE NAME[:TAG]
 * cmd_oci_export: govc export STORE NAME[:TAG] oci:DIR[:TAG]|docker-archive:FILE */
int cmd_oci_import(int argc, char **argv);
int cmd_oci_export(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_compact(int argc, char **argv);

/* registries: tools/cmd_registry.c
 * cmd_pull: govc pull STORE docker://REF [NAME[:TAG]]
 * cmd_push: govc push STORE NAME[:TAG] docker://REF
 * cmd_login, cmd_logout: govc login|logout HOST */
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);

/* builds: tools/cmd_build.c
 * cmd_build: govc build STORE REPO */
int cmd_build(int argc, char **argv);

#endif
