/*
 * limits.h - every limit govc puts on untrusted input, in one place:
 * layers (tar streams), image documents (JSON), names and paths, Govcfiles.  Messages
 * and tests use these names, so a refusal always says which limit it met.
 *
 * Two limits are set per run, since real images differ by orders of
 * magnitude (a CUDA layer holds many GB): the uncompressed bytes and the
 * entries of one layer.  util_limit() reads them from the environment
 * (GOVC_LAYER_MAX_BYTES, GOVC_LAYER_MAX_ENTRIES; the command line's
 * --max-layer-bytes and --max-layer-entries set those), else the defaults
 * below.  Whatever the limits, an import stops before the disk holding the
 * store runs out (LIMIT_DISK_RESERVE).
 *
 * Threads: constants, and util_limit() only reads the environment.
 */
#ifndef GOVC_UTIL_LIMITS_H
#define GOVC_UTIL_LIMITS_H

#include <stdint.h>
#include <stdlib.h>

/* ---- layers ------------------------------------------------------------ */
#define LIMIT_LAYER_BYTES_ENV "GOVC_LAYER_MAX_BYTES"
#define LIMIT_LAYER_BYTES (64ULL << 30)		/* uncompressed, one layer */
#define LIMIT_LAYER_ENTRIES_ENV "GOVC_LAYER_MAX_ENTRIES"
#define LIMIT_LAYER_ENTRIES 10000000ULL		/* tar entries, one layer */
#define OCI_LAYER_ENTRIES_MAX 10000000		/* the most it may be set to */
#define OCI_PATH_MAX 4096		/* path of a layer entry */
#define OCI_ENTRY_NAME_MAX 255		/* one component of it */
#define OCI_SYMLINK_MAX 4095		/* symlink target */
#define OCI_XATTR_NAME_MAX 255
#define OCI_XATTR_VALUE_MAX 65536
#define OCI_XATTRS_MAX 128		/* xattrs on one entry */

/* ---- image documents --------------------------------------------------- */
#define OCI_JSON_MAX (4u << 20)		/* manifest, config, index, index.json */
#define OCI_LAYERS_MAX 256		/* layers in one image */
#define OCI_INDEX_MANIFESTS_MAX 1024	/* manifests in one image index */
#define OCI_NAME_MAX 255		/* image name */
#define OCI_TAG_MAX 128			/* tag */
#define OCI_MEDIA_TYPE_MAX 127		/* as the OCI spec limits it */

/* ---- Govcfiles (builder/) ------------------------------------------------ */
#define LIMIT_GOVCFILE_BYTES (4u << 20)		/* the whole file */
#define LIMIT_GOVCFILE_LINE 65535		/* one physical line (BuildKit's) */
#define LIMIT_GOVCFILE_INSN_BYTES (1u << 20)	/* one instruction, lines joined */
#define LIMIT_GOVCFILE_INSNS 10000		/* instructions in a file */
#define LIMIT_GOVCFILE_HEREDOC (1u << 20)	/* one heredoc's body */
#define LIMIT_GOVCFILE_STAGES 256		/* FROMs in a file */
#define LIMIT_GOVCFILE_WORD_BYTES (1u << 20)	/* one word after expansion */
#define LIMIT_GOVCFILE_NESTING 64		/* ${a:-${b:-...}} depth */
#define LIMIT_GOVCFILE_PLAN_BYTES (64u << 20)	/* a parse's or a plan's memory */
/* ${VAR#pat} and ${VAR%pat}: value bytes x pattern bytes, summed over a plan */
#define LIMIT_BUILD_RUN_SECONDS 3600		/* a RUN, unless --timeout */
#define LIMIT_GOVCFILE_PATTERN_WORK (256u << 20)

/* ---- the disk ---------------------------------------------------------- */
/* long work stops when the store's file system has less than this free,
 * or less than LIMIT_DISK_RESERVE_PCT percent of its size */
#define LIMIT_DISK_RESERVE (256ULL << 20)
#define LIMIT_DISK_RESERVE_PCT 1

/*
 * util_limit - the value of limit ENV: the environment's, if it is a
 * positive decimal number (an optional k, M or G suffix multiplies by
 * 2^10, 2^20, 2^30), else DEFAULT.
 */
static inline uint64_t util_limit(const char *env, uint64_t dflt)
{
	const char *v = getenv(env);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	n = strtoull(v, &end, 10);
	switch (*end) {
	case 'k': case 'K': n <<= 10; end++; break;
	case 'm': case 'M': n <<= 20; end++; break;
	case 'g': case 'G': n <<= 30; end++; break;
	}
	return n && !*end ? n : dflt;
}

#endif
