/*
 * jobspec_pattern.c - a `pattern:` node (CEP, docs/cep.md): its kind
 * (key_by + pattern), its shape (pass 3: steps, quantifiers, contiguity,
 * within, skip, emit and timeout_output names) and its types (pass 5: the
 * steps' conditions and the emit expressions, which may refer to steps,
 * and the output schema: the key fields, match_start, match_end, the emit
 * fields). See jobspec_int.h for the passes.
 */
#include "jobspec.h"
#include "jobspec_int.h"

#include "err.h"
#include "expr.h"
#include "mem.h"
#include "parse.h"
#include "record.h"
#include "wr_assert.h"
#include "wr_limits.h"
#include "wr_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wr_job_pattern_keys[] = {
    "steps", "contiguity", "within", "skip", "emit", "timeout_output", NULL};
static const char *const wr_job_step_keys[] = {
    "name", "where", "times", "one_or_more", "optional", "contiguity", NULL};
/* Keys of a node that a pattern node does not take. */
static const char *const wr_job_pattern_foreign[] = {
    "filter", "select", "join", "sink", "window", "aggregate", "reduce", NULL};
static const char *const wr_job_pattern_late[] = {"allowed_lateness",
                                                  "late_output", NULL};
#define WR_JOB_CONTIGUITIES                                                    \
	"next|followed_by|followed_by_any|not_next|not_followed_by"

/* ---- kind (pass 3) ----------------------------------------------------- */

int
wr_job_pattern_kind(wr_jp *p, size_t i)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *map = p->pos[i].map;
	const wr_yaml_node *pat = wr_job_key(map, "pattern"), *k;

	for (size_t m = 0; m < map->n; m++) {
		k = map->keys[m];
		if (wr_job_kind_index(wr_job_pattern_foreign, k) >= 0)
			return wr_job_fail(p, k,
			                   "node '%s' has two kinds, 'pattern' "
			                   "(%d:%d) and '%s': a node does one "
			                   "thing (chain nodes with 'from:')",
			                   n->id, pat->line, pat->col,
			                   k->scalar);
		if (wr_job_kind_index(wr_job_pattern_late, k) >= 0)
			return wr_job_fail(
			    p, k,
			    "node '%s': '%s' applies only to "
			    "windows (a pattern's expired partial "
			    "matches go to pattern.timeout_output)",
			    n->id, k->scalar);
	}
	if (wr_job_key(map, "key_by") == NULL)
		return wr_job_fail(p, pat,
		                   "node '%s': a pattern needs key_by (it "
		                   "matches each key's events on their own)",
		                   n->id);
	p->pos[i].kind = pat;
	n->kind = WR_NODE_PATTERN;
	return WR_OK;
}

/* ---- shape (pass 3) ---------------------------------------------------- */

/* An integer scalar in [1, WR_CEP_MAX_TIMES] for times. */
static int
wr_job_times_bound(wr_jp *p, const wr_yaml_node *v, const char *pre,
                   uint32_t *out)
{
	char shown[WR_JOB_WHERE_BYTES];
	int64_t x = 0;

	if (v->kind != WR_YAML_SCALAR || v->is_null || v->quoted ||
	    wr_parse_int64(v->scalar, &x) != WR_OK || x < 1 ||
	    x > WR_CEP_MAX_TIMES) {
		if (v->kind == WR_YAML_SCALAR)
			wr_quote_for_msg(v->scalar, v->scalar_len, shown,
			                 sizeof(shown));
		else
			snprintf(shown, sizeof(shown), "a %s",
			         wr_yaml_kind_name(v->kind));
		return wr_job_fail(p, v,
		                   "%stimes: '%s' is not a count from 1 to %d "
		                   "(times: N, or times: [min, max]; "
		                   "optional: true allows none)",
		                   pre, shown, WR_CEP_MAX_TIMES);
	}
	*out = (uint32_t)x;
	return WR_OK;
}

/* times, one_or_more, optional of step s (map m). */
static int
wr_job_step_quantifier(wr_jp *p, wr_pattern_step *s, const wr_yaml_node *m,
                       const char *pre)
{
	const wr_yaml_node *times = wr_yaml_map_get(m, "times");
	int more = 0, opt = 0, rc;

	s->min = s->max = 1;
	if ((rc = wr_job_enum(p, m, "one_or_more", pre, "false|true", &more)) ||
	    (rc = wr_job_enum(p, m, "optional", pre, "false|true", &opt)))
		return rc;
	s->optional = opt == 1;
	if (more && times != NULL)
		return wr_job_fail(p, wr_job_key(m, "one_or_more"),
		                   "%sone_or_more cannot be combined with "
		                   "times (write times: [min, max] for a "
		                   "bounded loop)",
		                   pre);
	if (more)
		s->max = WR_PATTERN_UNBOUNDED;
	if (times == NULL)
		return WR_OK;
	if (times->kind != WR_YAML_SEQ) {
		if ((rc = wr_job_times_bound(p, times, pre, &s->min)))
			return rc;
		s->max = s->min;
		return WR_OK;
	}
	if (times->n != 2)
		return wr_job_fail(p, times,
		                   "%stimes: a range is [min, max], not %zu "
		                   "values",
		                   pre, times->n);
	if ((rc = wr_job_times_bound(p, times->values[0], pre, &s->min)) ||
	    (rc = wr_job_times_bound(p, times->values[1], pre, &s->max)))
		return rc;
	if (s->min > s->max)
		return wr_job_fail(p, times->values[1],
		                   "%stimes: [%u, %u]: max is below min", pre,
		                   s->min, s->max);
	return WR_OK;
}

static bool
wr_job_negated(enum wr_contiguity c)
{
	return c == WR_CONT_NOT_NEXT || c == WR_CONT_NOT_FOLLOWED_BY;
}

/* Where a negated step may stand and what it may carry. */
static int
wr_job_step_negation(wr_jp *p, const wr_pattern_step *s, const wr_yaml_node *m,
                     const char *pre, int k, int nsteps)
{
	static const char *const quant[] = {"times", "one_or_more", "optional",
	                                    NULL};

	for (int q = 0; quant[q] != NULL; q++)
		if (wr_yaml_map_get(m, quant[q]) != NULL)
			return wr_job_fail(
			    p, wr_job_key(m, quant[q]),
			    "%s%s: a negated step (%s) matches "
			    "no event, so it takes no quantifier",
			    pre, quant[q],
			    s->contiguity == WR_CONT_NOT_NEXT
			        ? "not_next"
			        : "not_followed_by");
	if (k == 0 || k == nsteps - 1)
		return wr_job_fail(p, wr_job_key(m, "contiguity"),
		                   "%scontiguity: a negated step stands "
		                   "between two steps, not %s",
		                   pre, k == 0 ? "first" : "last");
	return WR_OK;
}

/* One element of pattern.steps. */
static int
wr_job_pattern_step(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m, int k,
                    int dflt)
{
	wr_pattern_spec *ps = &n->pattern;
	wr_pattern_step *s = &ps->steps[k];
	char pre[WR_JOB_WHERE_BYTES], where[WR_JOB_WHERE_BYTES];
	char shown[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *name, *v;
	int cont = dflt, rc;

	snprintf(pre, sizeof(pre), "node '%s': pattern.steps[%d].", n->id, k);
	snprintf(where, sizeof(where), "in step %d of node '%s'", k + 1, n->id);
	if ((rc = wr_job_need_map(p, m, "a pattern step", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_step_keys, where)) ||
	    (rc = wr_job_scalar(p, m, "name", pre, true, &name)) ||
	    (rc = wr_job_scalar(p, m, "where", pre, false, &v)) ||
	    (rc = wr_job_enum(p, m, "contiguity", pre, WR_JOB_CONTIGUITIES,
	                      &cont)))
		return rc;
	s->line = m->line;
	s->col = m->col;
	wr_quote_for_msg(name->scalar, name->scalar_len, shown, sizeof(shown));
	if (!wr_job_valid_field(name->scalar, name->scalar_len))
		return wr_job_fail(p, name,
		                   "%sname: '%s' is not a valid step name "
		                   "(letters, digits and '_', not starting "
		                   "with a digit)",
		                   pre, shown);
	for (int j = 0; j < k; j++)
		if (strcmp(ps->steps[j].name, name->scalar) == 0)
			return wr_job_fail(p, name,
			                   "%sname: step '%s' is already step "
			                   "%d (%d:%d)",
			                   pre, shown, j + 1, ps->steps[j].line,
			                   ps->steps[j].col);
	s->name = wr_xstrdup(name->scalar);
	s->contiguity = (enum wr_contiguity)cont;
	if (wr_job_negated(s->contiguity))
		return wr_job_step_negation(p, s, m, pre, k, (int)ps->nsteps);
	return wr_job_step_quantifier(p, s, m, pre);
}

/* Whether partial matches may wait across unrelated events: then only
 * within bounds how long they live. */
static bool
wr_job_pattern_waits(const wr_pattern_spec *ps)
{
	for (int k = 0; k < ps->nsteps; k++) {
		const wr_pattern_step *s = &ps->steps[k];
		bool relaxed = s->contiguity == WR_CONT_FOLLOWED_BY ||
		               s->contiguity == WR_CONT_FOLLOWED_BY_ANY ||
		               s->contiguity == WR_CONT_NOT_FOLLOWED_BY;
		if (relaxed && (k > 0 || s->max > 1))
			return true;
	}
	return false;
}

static int
wr_job_pattern_steps(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m,
                     const char *pre, int dflt)
{
	wr_pattern_spec *ps = &n->pattern;
	const wr_yaml_node *steps = wr_yaml_map_get(m, "steps");
	const wr_pattern_step *last;
	int rc;

	if (steps == NULL)
		return wr_job_fail(p, m, "%ssteps is required", pre);
	if (steps->kind != WR_YAML_SEQ || steps->n == 0)
		return wr_job_fail(p, steps,
		                   "%ssteps must be a non-empty list of steps "
		                   "({ name, where, ... })",
		                   pre);
	if (steps->n > WR_CEP_MAX_STEPS)
		return wr_job_fail(p, steps, "%ssteps: more than %d steps", pre,
		                   WR_CEP_MAX_STEPS);
	ps->steps = wr_xcalloc(steps->n, sizeof(*ps->steps));
	ps->nsteps = (int)steps->n;
	for (int k = 0; k < ps->nsteps; k++)
		if ((rc = wr_job_pattern_step(p, n, steps->values[k], k, dflt)))
			return rc;
	last = &ps->steps[ps->nsteps - 1];
	if (last->optional)
		return wr_job_fail(
		    p, wr_job_key(steps->values[ps->nsteps - 1], "optional"),
		    "%ssteps: the last step cannot be optional (a match "
		    "would end before it could be known)",
		    pre);
	return WR_OK;
}

/* within, skip, timeout_output. */
static int
wr_job_pattern_bounds(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m,
                      const char *pre)
{
	wr_pattern_spec *ps = &n->pattern;
	const wr_yaml_node *to;
	char shown[WR_JOB_WHERE_BYTES];
	int skip = WR_SKIP_NO_SKIP, rc;

	if ((rc = wr_job_dur(p, m, "within", pre, 1, WR_JOB_MAX_WINDOW_MS,
	                     false, &ps->within_ms)) ||
	    (rc = wr_job_enum(p, m, "skip", pre,
	                      "no_skip|past_last_event|skip_to_next", &skip)) ||
	    (rc = wr_job_scalar(p, m, "timeout_output", pre, false, &to)))
		return rc;
	ps->skip = (enum wr_skip)skip;
	if (to != NULL && ps->within_ms == 0)
		return wr_job_fail(p, wr_job_key(m, "timeout_output"),
		                   "%stimeout_output needs within (partial "
		                   "matches time out when within has passed "
		                   "since their first event)",
		                   pre);
	if (ps->within_ms == 0 && wr_job_pattern_waits(ps))
		return wr_job_fail(
		    p, wr_job_key(m, "steps"),
		    "%swithin is required: with followed_by, "
		    "followed_by_any or not_followed_by a partial "
		    "match may wait forever, and only within "
		    "bounds its state (or make every step next)",
		    pre);
	if (to == NULL)
		return WR_OK;
	wr_quote_for_msg(to->scalar, to->scalar_len, shown, sizeof(shown));
	if (!wr_job_valid_id(to->scalar, to->scalar_len))
		return wr_job_fail(p, to,
		                   "%stimeout_output: '%s' is not a valid name "
		                   "(1 to %d letters, digits, '_' or '-')",
		                   pre, shown, WR_JOB_MAX_ID_BYTES - 1);
	ps->timeout_output = wr_xstrdup(to->scalar);
	return WR_OK;
}

/* emit: a map of output names to expressions (typed in pass 5). */
static int
wr_job_pattern_emit(wr_jp *p, const wr_node_spec *n, const wr_yaml_node *m,
                    const char *pre)
{
	const wr_yaml_node *emit = wr_yaml_map_get(m, "emit"), *v;
	char shown[WR_JOB_WHERE_BYTES];
	int rc;

	if (emit == NULL)
		return WR_OK;
	if ((rc = wr_job_need_map(p, emit, "'emit'", true)))
		return rc;
	if (emit->n > WR_MAX_FIELDS)
		return wr_job_fail(p, emit, "%semit has more than %d fields",
		                   pre, WR_MAX_FIELDS);
	for (size_t j = 0; j < emit->n; j++) {
		const wr_yaml_node *k = emit->keys[j];
		wr_quote_for_msg(k->scalar, k->scalar_len, shown,
		                 sizeof(shown));
		if (!wr_job_valid_field(k->scalar, k->scalar_len))
			return wr_job_fail(
			    p, k,
			    "node '%s': emit: '%s' is not a "
			    "valid field name (letters, digits "
			    "and '_', not starting with a digit)",
			    n->id, shown);
		if ((rc = wr_job_scalar(p, emit, k->scalar, "emit.", true, &v)))
			return rc;
	}
	return WR_OK;
}

int
wr_job_parse_pattern(wr_jp *p, size_t i, const char *pre)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *map = p->pos[i].map;
	const wr_yaml_node *m = wr_yaml_map_get(map, "pattern");
	char where[WR_JOB_WHERE_BYTES], ppre[WR_JOB_WHERE_BYTES];
	int dflt = WR_CONT_FOLLOWED_BY, rc;

	snprintf(where, sizeof(where), "in the pattern of node '%s'", n->id);
	snprintf(ppre, sizeof(ppre), "%spattern.", pre);
	if ((rc = wr_job_node_key_by(p, n, wr_yaml_map_get(map, "key_by"))) ||
	    (rc = wr_job_need_map(p, m, "'pattern'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_pattern_keys, where)) ||
	    (rc = wr_job_enum(p, m, "contiguity", ppre,
	                      "next|followed_by|followed_by_any", &dflt)) ||
	    (rc = wr_job_pattern_steps(p, n, m, ppre, dflt)) ||
	    (rc = wr_job_pattern_bounds(p, n, m, ppre)))
		return rc;
	return wr_job_pattern_emit(p, n, m, ppre);
}

/* ---- types (pass 5) ---------------------------------------------------- */

/* wr_job_expr with step references; errors point into v. */
static int
wr_job_expr_steps(wr_jp *p, const wr_yaml_node *v, const wr_schema *in,
                  const wr_expr_steps *sc, const char *what, wr_expr **out)
{
	char msg[WR_JOB_WHERE_BYTES * 2];
	size_t off = 0;
	int line, col;

	*out = NULL;
	msg[0] = '\0';
	if (wr_expr_parse_steps(v->scalar, in, sc, out, &off, msg,
	                        sizeof(msg)) == WR_OK)
		return WR_OK;
	wr_job_scalar_at(p, v, off < v->scalar_len ? off : v->scalar_len, &line,
	                 &col);
	return wr_job_failat(p, line, col, "%s: %s", what, msg);
}

static int
wr_job_pattern_wheres(wr_jp *p, size_t i, const wr_schema *in,
                      const char *const *names)
{
	wr_node_spec *n = &p->spec->nodes[i];
	wr_pattern_spec *ps = &n->pattern;
	const wr_yaml_node *steps =
	    wr_yaml_map_get(wr_yaml_map_get(p->pos[i].map, "pattern"), "steps");
	wr_expr_steps sc = {
	    .names = names, .n = ps->nsteps, .fields = in, .row = true};
	char what[WR_JOB_WHERE_BYTES];
	int rc;

	for (int k = 0; k < ps->nsteps; k++)
		if (wr_job_negated(ps->steps[k].contiguity))
			sc.negated |= 1u << k;
	for (int k = 0; k < ps->nsteps; k++) {
		wr_pattern_step *s = &ps->steps[k];
		const wr_yaml_node *v =
		    wr_yaml_map_get(steps->values[k], "where");
		if (v == NULL)
			continue;
		/* A step sees the steps before it and the events it took
		 * already; a negated one only those before it. */
		sc.visible = (sc.negated >> k) & 1u ? k : k + 1;
		snprintf(what, sizeof(what), "node '%s': step '%s': where",
		         n->id, s->name);
		if ((rc = wr_job_expr_steps(p, v, in, &sc, what, &s->where)))
			return rc;
		if (wr_expr_type(s->where) != WR_T_BOOL)
			return wr_job_fail(
			    p, v, "%s must be bool, not %s", what,
			    wr_type_name(wr_expr_type(s->where)));
	}
	return WR_OK;
}

static int
wr_job_pattern_emits(wr_jp *p, size_t i, const wr_schema *in,
                     const char *const *names)
{
	wr_node_spec *n = &p->spec->nodes[i];
	wr_pattern_spec *ps = &n->pattern;
	const wr_yaml_node *m =
	    wr_yaml_map_get(wr_yaml_map_get(p->pos[i].map, "pattern"), "emit");
	wr_expr_steps sc = {.names = names,
	                    .n = ps->nsteps,
	                    .visible = ps->nsteps,
	                    .fields = in};
	char what[WR_JOB_WHERE_BYTES];
	int rc;

	for (int k = 0; k < ps->nsteps; k++)
		if (wr_job_negated(ps->steps[k].contiguity))
			sc.negated |= 1u << k;
	if (m == NULL || m->kind != WR_YAML_MAP)
		return WR_OK;
	ps->emit = wr_xcalloc(m->n > 0 ? m->n : 1, sizeof(*ps->emit));
	for (size_t j = 0; j < m->n; j++) {
		wr_select_item *it = &ps->emit[ps->nemit];
		snprintf(what, sizeof(what), "node '%s': emit.%s", n->id,
		         m->keys[j]->scalar);
		if ((rc = wr_job_expr_steps(p, m->values[j], in, &sc, what,
		                            &it->expr)))
			return rc;
		it->name = wr_xstrdup(m->keys[j]->scalar);
		ps->nemit++;
		rc = wr_schema_add(&n->out, it->name, wr_expr_type(it->expr));
		if (rc == WR_EEXIST)
			return wr_job_fail(
			    p, m->keys[j],
			    "node '%s': emit '%s' clashes with a "
			    "key field or match_start/match_end",
			    n->id, it->name);
		if (rc != WR_OK)
			return wr_job_fail(p, m->keys[j],
			                   "node '%s': more than %d output "
			                   "fields",
			                   n->id, WR_MAX_FIELDS);
	}
	return WR_OK;
}

int
wr_job_type_pattern(wr_jp *p, size_t i, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	static const char *const mcols[] = {"match_start", "match_end"};
	const char *names[WR_CEP_MAX_STEPS];
	int rc;

	if ((rc = wr_job_type_keys(p, i, in)))
		return rc;
	if (!wr_job_has_event_time(p->spec, i))
		return wr_job_fail(p, wr_job_key(p->pos[i].map, "pattern"),
		                   "node '%s': a pattern matches in event time "
		                   "order, and its input has no event time: "
		                   "give its source event_time: { field: ..., "
		                   "max_out_of_orderness: ... }",
		                   n->id);
	for (int k = 0; k < n->pattern.nsteps; k++)
		names[k] = n->pattern.steps[k].name;
	/* Input names are unique and at most WR_MAX_FIELDS. */
	for (int k = 0; k < n->nkeys; k++)
		WR_ASSERT(wr_schema_add(&n->out, in->fields[n->keys[k]].name,
		                        in->fields[n->keys[k]].type) == WR_OK);
	for (int c = 0; c < 2; c++)
		if (wr_schema_add(&n->out, mcols[c], WR_T_TIMESTAMP) != WR_OK)
			return wr_job_fail(p,
			                   wr_job_key(p->pos[i].map, "key_by"),
			                   "node '%s': the key field '%s' "
			                   "clashes with the match's own field",
			                   n->id, mcols[c]);
	if ((rc = wr_job_pattern_wheres(p, i, in, names)))
		return rc;
	return wr_job_pattern_emits(p, i, in, names);
}

void
wr_job_pattern_fini(wr_pattern_spec *ps)
{
	for (int k = 0; k < ps->nsteps; k++) {
		free(ps->steps[k].name);
		wr_expr_free(ps->steps[k].where);
	}
	free(ps->steps);
	for (size_t j = 0; j < ps->nemit; j++) {
		free(ps->emit[j].name);
		wr_expr_free(ps->emit[j].expr);
	}
	free(ps->emit);
	free(ps->timeout_output);
}
