/*
 * plan.c - a validated job's nodes grouped into vertices (operator chains)
 * joined by edges (see plan.h).
 *
 * Nodes arrive in topological order (wr_jobspec guarantees it), so one
 * pass decides each node's vertex: it joins its input's chain when
 *   - it has one input,
 *   - it is not keyed (key_by, window, reduce, pattern): those need a
 *     HASH edge,
 *   - its parallelism equals its input's,
 *   - the input feeds only this node.
 * Otherwise it starts a vertex, reached by one edge per input:
 *   - HASH to a keyed node (key -> key group -> subtask); a join is keyed
 *     on each input's join keys (wr_edge.keys),
 *   - REBALANCE (round robin) when the parallelism changes,
 *   - FORWARD otherwise: that is the fan-out case, an input feeding several
 *     nodes at equal parallelism. Each consumer starts its own vertex and
 *     subtask i feeds subtask i of each; records are not copied between
 *     threads of one chain, which keeps a chain a straight line.
 * A node reading a window's late_output never chains: its edge is a side
 * edge (the window emits only late records on it), and it does not count
 * as a consumer of the window's main output.
 */
#include "plan.h"

#include "err.h"
#include "mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
wr_plan_keyed(const wr_node_spec *n)
{
	return n->kind == WR_NODE_KEY_BY || n->kind == WR_NODE_WINDOW ||
	       n->kind == WR_NODE_REDUCE || n->kind == WR_NODE_JOIN ||
	       n->kind == WR_NODE_ANOMALY || n->kind == WR_NODE_PATTERN;
}

static bool
wr_plan_chains(const wr_jobspec *spec, const wr_node_spec *n,
               const int *consumers)
{
	const wr_node_spec *in;

	if (n->ninputs != 1 || wr_plan_keyed(n) || n->input_side[0])
		return false;
	in = &spec->nodes[n->inputs[0]];
	return in->parallelism == n->parallelism &&
	       consumers[n->inputs[0]] == 1;
}

static enum wr_edge_kind
wr_plan_edge_kind(const wr_node_spec *from, const wr_node_spec *to)
{
	if (wr_plan_keyed(to))
		return WR_EDGE_HASH;
	if (from->parallelism != to->parallelism)
		return WR_EDGE_REBALANCE;
	return WR_EDGE_FORWARD;
}

/* "orders -> paid -> to_kafka", cut with "..." when it does not fit. */
static void
wr_plan_name(const wr_jobspec *spec, wr_vertex *v)
{
	size_t len = 0, cap = sizeof(v->name);
	bool cut = false;

	v->name[0] = '\0';
	for (int k = 0; k < v->nnodes && !cut; k++) {
		int n =
		    snprintf(v->name + len, cap - len, "%s%s",
		             k > 0 ? " -> " : "", spec->nodes[v->nodes[k]].id);
		cut = n < 0 || (size_t)n >= cap - len;
		if (!cut)
			len += (size_t)n;
	}
	if (cut)
		memcpy(v->name + cap - 4, "...", 4);
}

/* The fields a HASH edge into input k of n hashes (plan.h). */
static void
wr_plan_edge_keys(const wr_node_spec *n, int k, wr_edge *e)
{
	const int *keys = n->kind == WR_NODE_JOIN ? n->join_keys[k] : n->keys;

	if (e->kind != WR_EDGE_HASH)
		return;
	e->nkeys = n->kind == WR_NODE_JOIN ? n->njoin_keys : n->nkeys;
	memcpy(e->keys, keys, (size_t)e->nkeys * sizeof(e->keys[0]));
}

static void
wr_plan_add_edges(wr_plan *p, int node, int vertex)
{
	const wr_node_spec *n = &p->spec->nodes[node];

	for (int k = 0; k < n->ninputs; k++) {
		wr_edge *e = &p->edges[p->nedges++];
		int from = n->inputs[k];
		e->from_vertex = p->node_vertex[from];
		e->to_vertex = vertex;
		e->from_node = from;
		e->to_node = node;
		e->input_index = k;
		e->kind = wr_plan_edge_kind(&p->spec->nodes[from], n);
		e->side = n->input_side[k];
		wr_plan_edge_keys(n, k, e);
	}
}

/* The checks a plan relies on; a spec from wr_jobspec_parse passes them,
 * so a failure means a spec built some other way. */
static int
wr_plan_check(const wr_jobspec *spec, char *errbuf, size_t errlen)
{
	if (spec->nnodes == 0 || spec->nnodes > WR_JOB_MAX_NODES) {
		snprintf(errbuf, errlen, "%s: %zu nodes (1 .. %d)", spec->file,
		         spec->nnodes, WR_JOB_MAX_NODES);
		return WR_EINVAL;
	}
	for (size_t i = 0; i < spec->nnodes; i++) {
		const wr_node_spec *n = &spec->nodes[i];
		for (int k = 0; k < n->ninputs; k++)
			if (n->inputs[k] < 0 || (size_t)n->inputs[k] >= i) {
				snprintf(errbuf, errlen,
				         "%s:%d:%d: node '%s': its inputs are "
				         "not in topological order",
				         spec->file, n->line, n->col, n->id);
				return WR_EINVAL;
			}
		if (n->parallelism < 1) {
			snprintf(errbuf, errlen,
			         "%s:%d:%d: node '%s': parallelism %d",
			         spec->file, n->line, n->col, n->id,
			         n->parallelism);
			return WR_EINVAL;
		}
	}
	return WR_OK;
}

int
wr_plan_build(const wr_jobspec *spec, wr_plan **out, char *errbuf,
              size_t errlen)
{
	int consumers[WR_JOB_MAX_NODES] = {0};
	wr_plan *p;
	int rc;

	*out = NULL;
	if ((rc = wr_plan_check(spec, errbuf, errlen)) != WR_OK)
		return rc;
	for (size_t i = 0; i < spec->nnodes; i++)
		for (int k = 0; k < spec->nodes[i].ninputs; k++)
			if (!spec->nodes[i].input_side[k])
				consumers[spec->nodes[i].inputs[k]]++;
	p = wr_xcalloc(1, sizeof(*p));
	p->spec = spec;
	p->vertices = wr_xcalloc(spec->nnodes, sizeof(*p->vertices));
	/* At most two inputs per node (a join), so two edges. */
	p->edges = wr_xcalloc(2 * spec->nnodes, sizeof(*p->edges));
	for (size_t i = 0; i < spec->nnodes; i++) {
		const wr_node_spec *n = &spec->nodes[i];
		int v;
		if (wr_plan_chains(spec, n, consumers)) {
			v = p->node_vertex[n->inputs[0]];
		} else {
			v = p->nvertices++;
			p->vertices[v].parallelism = n->parallelism;
			wr_plan_add_edges(p, (int)i, v);
		}
		p->vertices[v].nodes[p->vertices[v].nnodes++] = (int)i;
		p->node_vertex[i] = v;
	}
	for (int v = 0; v < p->nvertices; v++)
		wr_plan_name(spec, &p->vertices[v]);
	*out = p;
	return WR_OK;
}

void
wr_plan_free(wr_plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->vertices);
	free(plan->edges);
	free(plan);
}

int
wr_plan_slots_needed(const wr_plan *plan)
{
	int slots = 0;

	for (int v = 0; v < plan->nvertices; v++)
		if (plan->vertices[v].parallelism > slots)
			slots = plan->vertices[v].parallelism;
	return slots;
}
