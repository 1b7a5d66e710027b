/* cmd_oci.c - placeholder until the OCI commands land (issue 3). */
#include "config.h"
#include "tools/govc.h"

int cmd_oci_import(int argc, char **argv) { (void)argc; (void)argv; return govc_fail("import: only git: locations are supported yet"); }
int cmd_oci_export(int argc, char **argv) { (void)argc; (void)argv; return govc_fail("export: only git: locations are supported yet"); }
int cmd_images(int argc, char **argv) { (void)argc; (void)argv; return govc_fail("images: not available yet"); }
int cmd_rmi(int argc, char **argv) { (void)argc; (void)argv; return govc_fail("rmi: not available yet"); }
int cmd_gc(int argc, char **argv) { (void)argc; (void)argv; return govc_fail("gc: not available yet"); }
