/*
 * test_registry.c - the parts of the registry client that need no
 * registry: references as docker and podman resolve them, the default
 * name a pull stores them as, and the auth files (written 0600, read in
 * their order, other keys kept, removed).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "oci/registry.h"

static void expect_ref(const char *arg, const char *host, const char *repo, const char *tag,
		       const char *name, const char *ntag)
{
	struct oci_remote_ref r;
	char n[OCI_NAME_MAX + 1], t[OCI_TAG_MAX + 1];

	assert_int_equal(oci_remote_ref_parse(arg, &r), 0);
	assert_string_equal(r.host, host);
	assert_string_equal(r.repo, repo);
	assert_string_equal(r.tag, tag);
	oci_remote_ref_name(&r, n, t);
	assert_string_equal(n, name);
	assert_string_equal(t, ntag);
}

static void test_refs(void **state)
{
	static const char *const bad[] = {
		"docker://", "docker://host.io/", "docker://host.io/app:", "Busybox",
		"docker://h.io/a@sha256:12", "docker://h.io/a/../b", "h.io/a:b:c:d/e",
	};
	struct oci_remote_ref r;
	char hex[OCI_DIGEST_STRLEN + 1];

	(void)state;
	expect_ref("busybox", "docker.io", "library/busybox", "latest", "busybox", "latest");
	expect_ref("docker://busybox:1.36", "docker.io", "library/busybox", "1.36", "busybox",
		   "1.36");
	expect_ref("docker.io/library/alpine", "docker.io", "library/alpine", "latest", "alpine",
		   "latest");
	expect_ref("index.docker.io/team/app:v2", "docker.io", "team/app", "v2", "team/app", "v2");
	expect_ref("team/app", "docker.io", "team/app", "latest", "team/app", "latest");
	expect_ref("docker://localhost/app", "localhost", "app", "latest", "localhost/app",
		   "latest");
	expect_ref("docker://127.0.0.1:5000/a/b/c:t1", "127.0.0.1:5000", "a/b/c", "t1",
		   "127.0.0.1:5000/a/b/c", "t1");
	expect_ref("ghcr.io/o/p:1", "ghcr.io", "o/p", "1", "ghcr.io/o/p", "1");

	assert_int_equal(oci_remote_ref_parse("docker://h.io/a@sha256:"
					      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
					      &r), 0);
	assert_string_equal(r.tag, "");
	assert_string_equal(oci_digest_fmt(hex, &r.digest),
			    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	expect_ref("h.io/a:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		   "h.io", "a", "t", "h.io/a", "t");
	{
		char n[OCI_NAME_MAX + 1], t[OCI_TAG_MAX + 1];
		assert_int_equal(oci_remote_ref_parse("h.io/a@sha256:0123456789abcdef0123456789abcdef"
						      "0123456789abcdef0123456789abcdef", &r), 0);
		oci_remote_ref_name(&r, n, t);
		assert_string_equal(t, "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (oci_remote_ref_parse(bad[i], &r) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	}
}

static void test_auth_files(void **state)
{
	char dir[] = "/tmp/govc-auth.XXXXXX", path[PATH_MAX], xdg[256], docker[256], buf[256];
	char *user, *pw;
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "%s/run", dir);
	snprintf(docker, sizeof(docker), "%s/docker", dir);
	unsetenv("REGISTRY_AUTH_FILE");
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	setenv("DOCKER_CONFIG", docker, 1);
	setenv("HOME", dir, 1);
	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(mkdir(docker, 0700), 0);

	/* nothing yet */
	assert_int_equal(oci_auth_lookup("h.io", NULL, &user, &pw), 0);
	assert_null(user);
	assert_null(pw);

	/* docker's file, with a URL key and other keys */
	snprintf(path, sizeof(path), "%s/config.json", docker);
	f = fopen(path, "w");
	assert_non_null(f);
	/* "dXNlcjpwOnc=" is base64("user:p:w") */
	fputs("{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"dXNlcjpwOnc=\"}},"
	      " \"credsStore\": \"x\"}", f);
	fclose(f);
	assert_int_equal(oci_auth_lookup("docker.io", NULL, &user, &pw), 0);
	assert_string_equal(user, "user");
	assert_string_equal(pw, "p:w");
	free(user);
	free(pw);

	/* login writes the first file, 0600; it wins over docker's */
	assert_int_equal(oci_auth_store("docker.io", NULL, "me", "secret", path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(strstr(path, "/run/containers/auth.json"));
	assert_int_equal(oci_auth_lookup("docker.io", NULL, &user, &pw), 0);
	assert_string_equal(user, "me");
	assert_string_equal(pw, "secret");
	free(user);
	free(pw);

	/* logout forgets it everywhere */
	assert_int_equal(oci_auth_remove("docker.io", NULL), 0);
	assert_int_equal(oci_auth_lookup("docker.io", NULL, &user, &pw), 0);
	assert_null(user);
	assert_int_equal(oci_auth_remove("docker.io", NULL), -ENOENT);
	/* ... and kept docker's other keys */
	snprintf(path, sizeof(path), "%s/config.json", docker);
	f = fopen(path, "r");
	assert_non_null(f);
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
	fclose(f);
	assert_non_null(strstr(buf, "credsStore"));
	assert_null(strstr(buf, "index.docker.io"));
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_auth_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
