/*
 * stages.c - the registry of built-in stages (stages.h).
 */
#include "filters/stages.h"

const struct filter_stage_ops *const filters_builtin[] = {
	NULL,
};
const size_t filters_nbuiltin = 0;
