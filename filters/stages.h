/*
 * stages.h - the built-in filter stages, for filters_new's registry.
 * Each stage's file documents what it checks, its configuration group
 * and its symbols.
 */
#ifndef POSTERN_FILTER_STAGES_H
#define POSTERN_FILTER_STAGES_H

#include "filters/filter.h"

extern const struct filter_stage_ops *const filters_builtin[];
extern const size_t filters_nbuiltin;

#endif
