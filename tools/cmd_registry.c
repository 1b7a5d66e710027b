/*
 * cmd_registry.c - govc pull, push, login and logout: images to and from
 * OCI registries (oci/registry.h).  Options may come before or after the
 * arguments, and are spelt as skopeo and podman spell them.  A secret is
 * never printed: not in errors, not in progress.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "oci/registry.h"
#include "store/store.h"
#include "tools/govc.h"

#define PASSWORD_MAX 4096
#define ROWS_MAX 600		/* progress rows kept (layers + config + manifests) */
#define ROW_TEXT 200
#define LABEL_MAX 64		/* a row's label kept (cut there) */
#define LABEL_W 32		/* the label column, at least */
#define NOTE_MAX 96		/* "mounted from REPO", cut */
#define DRAW_EVERY_MS 200	/* a terminal's rows are redrawn this often at most */

struct reg_args {
	struct oci_registry_opts ro;
	const char *platform;
	const char *jobs;
	char *pos[4];
	int npos;
	int password_stdin;
	int all;		/* --all: every platform (pull) */
	char *creds;		/* --creds USER[:PASSWORD], a copy, owned */
};

static const char reg_options[] =
	"  --tls-verify=false   do not verify TLS, and allow plain HTTP\n"
	"  --cert-dir DIR       CAs (DIR/*.crt) and client.cert/client.key\n"
	"  --creds USER:PASS    credentials instead of the logged-in ones\n"
	"  --authfile FILE      the auth file (default: $REGISTRY_AUTH_FILE,\n"
	"                       $XDG_RUNTIME_DIR/containers/auth.json,\n"
	"                       $DOCKER_CONFIG/config.json, ~/.docker/config.json)\n"
	"  -q, --quiet          no progress\n";

/* opt_value - "--opt VALUE" or "--opt=VALUE"; NULL if ARGV[*I] is not OPT */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, int *bad)
{
	size_t n = strlen(opt);

	if (strncmp(argv[*i], opt, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n])
		return NULL;
	if (*i + 1 >= argc) {
		*bad = 1;
		return NULL;
	}
	return argv[++*i];
}

static int parse_args(int argc, char **argv, struct reg_args *a, int maxpos)
{
	a->ro.tls_verify = -1;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int bad = 0;

		if (!strcmp(argv[i], "--")) {
			while (++i < argc && a->npos < maxpos)
				a->pos[a->npos++] = argv[i];
			if (i < argc)
				goto too_many;
			break;
		} else if (!strcmp(argv[i], "--tls-verify")) {
			a->ro.tls_verify = 1;
		} else if (!strncmp(argv[i], "--tls-verify=", 13)) {
			v = argv[i] + 13;
			if (!strcmp(v, "true") || !strcmp(v, "1")) {
				a->ro.tls_verify = 1;
			} else if (!strcmp(v, "false") || !strcmp(v, "0")) {
				a->ro.tls_verify = 0;
			} else {
				fprintf(stderr, "govc %s: --tls-verify takes true or false\n", argv[0]);
				return 2;
			}
		} else if ((v = opt_value(argc, argv, &i, "--cert-dir", &bad))) {
			a->ro.cert_dir = v;
		} else if ((v = opt_value(argc, argv, &i, "--authfile", &bad))) {
			a->ro.authfile = v;
		} else if ((v = opt_value(argc, argv, &i, "--platform", &bad))) {
			a->platform = v;
		} else if ((v = opt_value(argc, argv, &i, "--jobs", &bad)) ||
			   (v = opt_value(argc, argv, &i, "-j", &bad))) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || !*v || n < 1 || n > REG_JOBS_MAX) {
				fprintf(stderr, "govc %s: --jobs takes a number from 1 to %d\n", argv[0],
					REG_JOBS_MAX);
				return 2;
			}
			a->ro.jobs = (unsigned)n;
		} else if ((v = opt_value(argc, argv, &i, "--creds", &bad)) ||
			   (v = opt_value(argc, argv, &i, "--username", &bad)) ||
			   (v = opt_value(argc, argv, &i, "-u", &bad))) {
			free(a->creds);
			a->creds = strdup(v);
			if (!a->creds)
				return govc_fail("out of memory");
		} else if (!strcmp(argv[i], "--password-stdin")) {
			a->password_stdin = 1;
		} else if (!strcmp(argv[i], "--all") && !strcmp(argv[0], "pull")) {
			a->all = 1;
		} else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			a->ro.quiet = 1;
		} else if (bad) {
			fprintf(stderr, "govc %s: %s needs a value\n", argv[0], argv[i]);
			return 2;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "govc %s: unknown option '%s'; see govc %s --help\n", argv[0],
				argv[i], argv[0]);
			return 2;
		} else if (a->npos < maxpos) {
			a->pos[a->npos++] = argv[i];
		} else {
			goto too_many;
		}
	}
	if (a->creds) {
		char *colon = strchr(a->creds, ':');
		if (colon) {
			*colon = '\0';
			a->ro.password = colon + 1;
		}
		a->ro.username = a->creds;
	}
	return 0;
too_many:
	fprintf(stderr, "govc %s: too many arguments; see govc %s --help\n", argv[0], argv[0]);
	return 2;
}

static void args_release(struct reg_args *a)
{
	if (a->creds) {
		explicit_bzero(a->creds, strlen(a->creds) + (a->ro.password ? strlen(a->ro.password) + 1 : 0));
		free(a->creds);
	}
}

/*
 * The progress of a pull or a push (struct oci_progress; the transfer
 * serializes the calls).  On a terminal every row is one line, redrawn in
 * place (the cursor goes back up over the rows drawn) at most every
 * DRAW_EVERY_MS and whenever a row starts or ends, its labels in a column
 * as wide as the widest; elsewhere a line per blob once it is in, or sent.
 */
struct row {
	char label[LABEL_MAX];
	char note[NOTE_MAX];		/* "" for none */
	uint64_t size, got;
	enum oci_row_state state;
	double seconds;
};

struct rows {
	int tty;
	unsigned width;			/* the terminal's columns */
	unsigned label_w;		/* the label column */
	unsigned n, drawn;		/* rows known; lines on screen */
	uint64_t last_ms;
	struct row row[ROWS_MAX];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void row_text(char *out, size_t len, const struct row *r, unsigned w)
{
	char size[32], got[32], rate[32];
	double rate_b = r->seconds > 0.001 ? (double)r->got / r->seconds : 0;
	int lw = (int)w;

	govc_human_size(size, sizeof(size), r->size);
	govc_human_size(got, sizeof(got), r->got);
	govc_human_size(rate, sizeof(rate), (uint64_t)rate_b);
	switch (r->state) {
	case OCI_ROW_WAITING:
		snprintf(out, len, "  %-*s %10s  waiting", lw, r->label, size);
		break;
	case OCI_ROW_MOVING:
		snprintf(out, len, "  %-*s %10s / %-9s %3u%%  %s/s", lw, r->label, got, size,
			 r->size ? (unsigned)(r->got * 100 / r->size) : 100, rate);
		break;
	case OCI_ROW_INDEXING:
		snprintf(out, len, "  %-*s %10s  in %.1f s, %s/s, indexing", lw, r->label, size,
			 r->seconds, rate);
		break;
	case OCI_ROW_DONE:
		if (r->note[0])
			snprintf(out, len, "  %-*s %10s  %s", lw, r->label, size, r->note);
		else
			snprintf(out, len, "  %-*s %10s  done in %.1f s, %s/s", lw, r->label, size,
				 r->seconds, rate);
		break;
	case OCI_ROW_FAILED:
		snprintf(out, len, "  %-*s %10s  failed", lw, r->label, size);
		break;
	}
}

static void rows_draw(struct rows *rs)
{
	char line[ROW_TEXT];

	if (rs->drawn)
		fprintf(stderr, "\033[%uA", rs->drawn);
	for (unsigned i = 0; i < rs->n; i++) {
		line[0] = '\0';
		if (rs->row[i].label[0])
			row_text(line, sizeof(line), &rs->row[i], rs->label_w);
		fprintf(stderr, "\r\033[K%.*s\n", (int)rs->width - 1, line);
	}
	rs->drawn = rs->n;
	rs->last_ms = now_ms();
	fflush(stderr);
}

static void rows_update(void *arg, const struct oci_progress_row *r)
{
	struct rows *rs = arg;
	struct row one = { 0 }, *w = rs->tty && r->row < ROWS_MAX ? &rs->row[r->row] : &one;

	if ((!rs->tty && r->state != OCI_ROW_DONE) || (rs->tty && w == &one))
		return;
	snprintf(w->label, sizeof(w->label), "%s", r->label);
	snprintf(w->note, sizeof(w->note), "%s", r->note ? r->note : "");
	w->size = r->size;
	w->got = r->got;
	w->state = r->state;
	w->seconds = r->seconds;
	if (strlen(w->label) > rs->label_w)
		rs->label_w = (unsigned)strlen(w->label);
	if (!rs->tty) {
		char line[ROW_TEXT];

		row_text(line, sizeof(line), w, rs->label_w);
		fprintf(stderr, "%s\n", line);
		return;
	}
	if (r->row >= rs->n)
		rs->n = r->row + 1;	/* rows not told of yet stay blank */
	if (r->state != OCI_ROW_MOVING || !r->got || now_ms() - rs->last_ms >= DRAW_EVERY_MS)
		rows_draw(rs);
}

/* rows_begin - progress rows for A's transfer, unless -q; NULL if none
 * (freed with rows_end) */
static struct rows *rows_begin(struct reg_args *a, struct oci_progress *pp)
{
	struct rows *rs;
	struct winsize ws;

	if (a->ro.quiet || !(rs = calloc(1, sizeof(*rs))))
		return NULL;
	rs->tty = isatty(2);
	rs->width = 80;
	rs->label_w = LABEL_W;
	if (rs->tty && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		rs->width = ws.ws_col < ROW_TEXT ? ws.ws_col : ROW_TEXT;
	pp->row = rows_update;
	pp->arg = rs;
	a->ro.progress = pp;
	return rs;
}

/* rows_end - the rows' last state on a terminal, and RS freed */
static void rows_end(struct rows *rs)
{
	if (rs && rs->tty && rs->n)
		rows_draw(rs);
	free(rs);
}

/*
 * begin - --help (USAGE and the options), then the options and MIN to MAX
 * arguments into A.  0 to go on; else *STATUS is the exit status (A is
 * released by the caller in either case).
 */
static int begin(int argc, char **argv, const char *usage, int min, int max, struct reg_args *a,
		 int *status)
{
	memset(a, 0, sizeof(*a));
	if (govc_wants_help(argc, argv)) {
		printf("%s\n%s", usage, reg_options);
		*status = 0;
		return -1;
	}
	*status = parse_args(argc, argv, a, max);
	if (*status == 0 && (a->npos < min || a->npos > max)) {
		fprintf(stderr, "%s", usage);
		*status = 2;
	}
	return *status ? -1 : 0;
}

int cmd_pull(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc pull [options] STORE docker://[HOST/]NAME[:TAG|@DIGEST] [NAME[:TAG]]\n"
		"\n"
		"Pull an image from a registry into STORE, as NAME:TAG (default: the\n"
		"reference as docker shows it, e.g. busybox:latest or\n"
		"localhost:5000/app:1; a digest alone is tagged sha256-<hex>).  A name\n"
		"without a host is Docker Hub's (busybox = docker.io/library/busybox).\n"
		"Each blob streams into the store and is verified; blobs the store holds\n"
		"are not downloaded; the image appears (in a mount too) only when\n"
		"complete.  Plain HTTP is used for a registry on localhost whose port does\n"
		"not speak TLS, or with --tls-verify=false.\n"
		"\n"
		"  --platform OS/ARCH[/VARIANT]  from a multi-platform image (default: the host's)\n"
		"  --all                 every platform of a multi-platform image: NAME:TAG\n"
		"                        shows the --platform one, and a push sends them all\n"
		"  -j, --jobs N          layers downloaded at once (default 6, or $GOVC_PULL_JOBS);\n"
		"                        layers are indexed as they come in\n"
		"\n"
		"Progress: on a terminal a line per layer with its bytes and rate, updated\n"
		"in place; otherwise a line per blob once it is in.\n";
	struct oci_import_opts io = { 0 };
	struct oci_progress pp;
	struct rows *rs = NULL;
	struct oci_remote_ref ref;
	char name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1], hex[OCI_DIGEST_STRLEN + 1];
	struct oci_digest m;
	struct store *s = NULL;
	struct reg_args a;
	int rc;

	if (begin(argc, argv, usage, 2, 3, &a, &rc))
		goto out;
	if (oci_remote_ref_parse(a.pos[1], &ref)) {
		rc = govc_fail("%s", store_errmsg());
		goto out;
	}
	oci_remote_ref_name(&ref, name, tag);
	if (a.npos == 3 && oci_ref_parse(a.pos[2], tag, name, tag)) {
		rc = govc_fail("%s", store_errmsg());
		goto out;
	}
	if (oci_name_check(name) || oci_tag_check(tag)) {
		rc = govc_fail("%s; give a NAME[:TAG] to store it as", store_errmsg());
		goto out;
	}
	io.platform = a.platform;
	rs = rows_begin(&a, &pp);
	rc = store_open(&s, a.pos[0], 0);
	if (rc == 0)
		rc = (a.all ? oci_pull_all : oci_pull)(s, &ref, name, tag, &a.ro, &io, &m);
	rows_end(rs);
	rs = NULL;
	if (rc) {
		rc = govc_fail("pull of %s: %s", a.pos[1], store_errmsg());
		goto out;
	}
	if (!a.ro.quiet)
		printf("%s:%s %s\n", name, tag, oci_digest_fmt(hex, &m));
out:
	free(rs);
	store_free(s);
	args_release(&a);
	return rc;
}

/*
 * left_out - say which platforms of the index a push left out, and how to
 * bring them into STORE so that the next push takes the whole index
 */
static void left_out(const struct oci_push_result *res, const char *store, const char *name,
		     const char *tag, const struct oci_remote_ref *ref)
{
	char hex[OCI_DIGEST_STRLEN + 1], mhex[OCI_DIGEST_STRLEN + 1];

	oci_digest_fmt(hex, &res->index);
	fprintf(stderr,
		"govc push: %s:%s came in a multi-platform index that neither the store\n"
		"nor %s/%s holds whole: pushed its own manifest, without the index.\n"
		"Left out of index %s:\n",
		name, tag, ref->host, ref->repo, hex);
	for (unsigned i = 0; i < res->nmissing; i++)
		fprintf(stderr, "  %s (manifest %s)\n",
			res->missing[i].platform[0] ? res->missing[i].platform : "a platform",
			oci_digest_fmt(mhex, &res->missing[i].manifest));
	fprintf(stderr, "To push the whole index, pull what is missing into the store, then\n"
			"push again:\n");
	for (unsigned i = 0; i < res->nmissing; i++) {
		char suffix[sizeof(res->missing[i].platform)];
		const char *pl = res->missing[i].platform;

		if (!pl[0] || !strncmp(pl, "unknown/", 8)) {
			if (pl[0])	/* attestations (buildx's): no platform to pull */
				fprintf(stderr, "  (%s: not an image; a pull does not bring it)\n", pl);
			continue;
		}
		snprintf(suffix, sizeof(suffix), "%s", pl);
		for (char *c = suffix; *c; c++)
			*c = *c == '/' ? '-' : *c;
		fprintf(stderr, "  govc pull --platform %s %s docker://%s@%s %s:%.60s-%s\n", pl, store,
			res->index_seen[0] ? res->index_seen : "WHERE-IT-CAME-FROM", hex, name, tag,
			suffix);
	}
}

int cmd_push(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc push [options] STORE NAME[:TAG] docker://HOST/NAME[:TAG]\n"
		"\n"
		"Push image NAME:TAG of STORE to a registry: the layers and config the\n"
		"registry lacks (it is asked first), then the manifest, byte for byte as\n"
		"the store holds it (the digests do not change).  The destination's tag\n"
		"defaults to TAG.  An image that came in a multi-platform index goes with\n"
		"every platform of it the store holds, and the index itself once the\n"
		"registry has every platform; otherwise the platforms left out are named.\n"
		"A blob the store saw in another repository of the same registry is\n"
		"mounted from there (no bytes sent) when the registry allows it.\n"
		"\n"
		"  -j, --jobs N          blobs uploaded at once (default 6, or $GOVC_PUSH_JOBS)\n"
		"\n"
		"Progress: on a terminal a line per blob sent with its bytes and rate,\n"
		"updated in place; otherwise a line per blob once it is sent.\n";
	struct oci_push_result res = { 0 };
	struct oci_progress pp;
	struct oci_remote_ref ref;
	char name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1], hex[OCI_DIGEST_STRLEN + 1];
	struct store *s = NULL;
	struct rows *rs;
	struct reg_args a;
	int rc;

	if (begin(argc, argv, usage, 3, 3, &a, &rc))
		goto out;
	if (oci_ref_parse(a.pos[1], "latest", name, tag) ||
	    oci_remote_ref_parse(a.pos[2], &ref)) {
		rc = govc_fail("%s", store_errmsg());
		goto out;
	}
	/* no tag in the destination: the source's */
	if (!strchr(strrchr(a.pos[2], '/') ? strrchr(a.pos[2], '/') : a.pos[2], ':') &&
	    !strchr(a.pos[2], '@'))
		snprintf(ref.tag, sizeof(ref.tag), "%s", tag);
	/* writable, to record where blobs went; a store this user may only
	 * read still pushes */
	rc = store_open(&s, a.pos[0], 0);
	if (rc == -EACCES || rc == -EROFS || rc == -EPERM)
		rc = store_open(&s, a.pos[0], STORE_RDONLY);
	rs = rows_begin(&a, &pp);
	if (rc == 0)
		rc = oci_push(s, name, tag, &ref, &a.ro, &res);
	rows_end(rs);
	if (rc) {
		rc = govc_fail("push to %s: %s", a.pos[2], store_errmsg());
		goto out;
	}
	if (res.nmissing)
		left_out(&res, a.pos[0], name, tag, &ref);
	if (!a.ro.quiet)
		printf("%s/%s%s%s %s\n", ref.host, ref.repo, ref.tag[0] ? ":" : "", ref.tag,
		       oci_digest_fmt(hex, &res.digest));
out:
	oci_push_result_release(&res);
	store_free(s);
	args_release(&a);
	return rc;
}

/* read_line - a line of FD (its newline dropped) into BUF; ECHO 0 turns
 * the terminal's echo off meanwhile */
static int read_line(FILE *f, char *buf, size_t len, int echo)
{
	struct termios old, quiet;
	int tty = !echo && isatty(fileno(f)) && tcgetattr(fileno(f), &old) == 0;
	char *got;

	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(f), TCSAFLUSH, &quiet);
	}
	got = fgets(buf, (int)len, f);
	if (tty) {
		tcsetattr(fileno(f), TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!got)
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

int cmd_login(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc login [options] [-u USER] [--password-stdin] HOST\n"
		"\n"
		"Check USER's password with registry HOST and record it (base64, as\n"
		"docker and podman do) in the auth file, created mode 0600.  The\n"
		"password is read from the terminal without echo, or with\n"
		"--password-stdin from the first line of standard input.\n";
	char user[512] = "", password[PASSWORD_MAX], path[PATH_MAX];
	struct oci_registry *r = NULL;
	struct reg_args a;
	int rc;

	password[0] = '\0';
	if (begin(argc, argv, usage, 1, 1, &a, &rc))
		goto out;
	if (a.ro.username) {
		snprintf(user, sizeof(user), "%s", a.ro.username);
	} else {
		if (a.password_stdin) {
			rc = govc_fail("login: --password-stdin needs -u USER");
			goto out;
		}
		fprintf(stderr, "Username: ");
		if (read_line(stdin, user, sizeof(user), 1) || !user[0]) {
			rc = govc_fail("login: no user name given");
			goto out;
		}
	}
	if (a.ro.password) {
		snprintf(password, sizeof(password), "%s", a.ro.password);
	} else {
		if (!a.password_stdin)
			fprintf(stderr, "Password: ");
		if (read_line(stdin, password, sizeof(password), 0) || !password[0]) {
			rc = govc_fail("login: no password given");
			goto out;
		}
	}
	a.ro.username = user;
	a.ro.password = password;
	rc = oci_registry_open(&r, a.pos[0], &a.ro);
	if (rc == 0)
		rc = oci_registry_check_login(r);
	if (rc == 0)
		rc = oci_auth_store(a.pos[0], a.ro.authfile, user, password, path);
	if (rc) {
		rc = govc_fail("login to %s: %s", a.pos[0], store_errmsg());
		goto out;
	}
	if (!a.ro.quiet)
		printf("Login Succeeded (%s)\n", path);
out:
	explicit_bzero(password, sizeof(password));
	oci_registry_free(r);
	args_release(&a);
	return rc;
}

int cmd_logout(int argc, char **argv)
{
	static const char usage[] = "usage: govc logout [--authfile FILE] HOST\n"
				    "\n"
				    "Forget the credentials for HOST in every auth file that has them.\n";
	struct reg_args a;
	int rc;

	if (begin(argc, argv, usage, 1, 1, &a, &rc))
		goto out;
	if (oci_auth_remove(a.pos[0], a.ro.authfile))
		rc = govc_fail("logout: %s", store_errmsg());
	if (rc == 0 && !a.ro.quiet)
		printf("Removed login credentials for %s\n", a.pos[0]);
out:
	args_release(&a);
	return rc;
}
