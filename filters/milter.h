/*
 * milter.h - external milters as pipeline stages (milter.c explains the
 * protocol side).  filters_new makes one stage per "milter:NAME" entry of
 * filters.stages, from the milter.servers entry "NAME=SOCKET[,options]".
 */
#ifndef POSTERN_FILTER_MILTER_H
#define POSTERN_FILTER_MILTER_H

#include "filters/filter.h"

struct milter_conf;

/* milter_conf_parse - "NAME=SOCKET[,timeout=DURATION][,fail=ACTION]" */
int milter_conf_parse(const char *spec, const struct config *cfg,
    struct milter_conf **mc_r, struct buf *err) WARN_UNUSED;
void milter_conf_free(struct milter_conf **mc);
/* milter_conf_name - "milter:NAME" */
const char *milter_conf_name(const struct milter_conf *mc);
/* milter_conf_fail - its fail= (enum filter_fail), or -1: the default */
int milter_conf_fail(const struct milter_conf *mc);

/* the stage; its state is a struct milter_conf */
extern const struct filter_stage_ops filter_stage_milter;

#endif
