/*
 * stages.c - the registry of built-in stages (stages.h): a stage is
 * found by its name in filters.stages, and runs where the list puts it.
 * Stages that read another's results must come after it: dmarc after spf
 * and dkim, reputation after dkim.
 */
#include "filters/stages.h"

extern const struct filter_stage_ops filter_stage_iprev;
extern const struct filter_stage_ops filter_stage_dnsbl;
extern const struct filter_stage_ops filter_stage_spf;
extern const struct filter_stage_ops filter_stage_dkim;
extern const struct filter_stage_ops filter_stage_dmarc;
extern const struct filter_stage_ops filter_stage_greylist;
extern const struct filter_stage_ops filter_stage_reputation;
extern const struct filter_stage_ops filter_stage_ratelimit;
extern const struct filter_stage_ops filter_stage_bayes;

const struct filter_stage_ops *const filters_builtin[] = {
	&filter_stage_iprev,
	&filter_stage_dnsbl,
	&filter_stage_spf,
	&filter_stage_dkim,
	&filter_stage_dmarc,
	&filter_stage_greylist,
	&filter_stage_reputation,
	&filter_stage_ratelimit,
	&filter_stage_bayes,
};
const size_t filters_nbuiltin = ARRAY_SIZE(filters_builtin);
