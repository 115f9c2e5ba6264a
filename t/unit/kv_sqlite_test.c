/*
 * kv_sqlite_test.c - the kv conformance suite (kv_conformance.c) on the
 * SQLite backend, then again through the fault-injection wrapper, with
 * the tests that prove a failure at any step loses nothing.
 */
#include "t/unit/kv_conformance.c"

int
main(void)
{
	int r = kv_conformance_run("sqlite");

	r |= kv_conformance_run("failinject:sqlite");
	return r;
}
