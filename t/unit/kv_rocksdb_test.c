/*
 * kv_rocksdb_test.c - the kv conformance suite (kv_conformance.c) on the
 * RocksDB backend, and through the fault-injection wrapper.
 */
#include "t/unit/kv_conformance.c"

int
main(void)
{
	int r = kv_conformance_run("rocksdb");

	r |= kv_conformance_run("failinject:rocksdb");
	return r;
}
