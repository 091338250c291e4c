/*
 * plan.h - the execution plan: a validated job's nodes grouped into
 * vertices (operator chains) joined by edges.
 *
 * Chaining rule (Flink's): a node joins its input's chain when it has one
 * input, the edge is forward (no key_by on this node), the parallelism is
 * equal, and the input feeds only this node. Everything else starts a new
 * vertex; so does a node reading a window's late_output (a side edge),
 * which is not counted as feeding the window. A key_by node (alone, window or
 * reduce) is reached through a HASH edge: key -> key group (max_parallelism) ->
 * subtask. A join has two inputs (edges with input_index 0 and 1), each a
 * HASH edge on that input's join keys; it never chains with either. A chained
 * vertex runs in one thread per subtask and its operators call each other
 * directly.
 *
 * The plan is a pure function of the spec, so the JobManager and every
 * TaskManager compute the same one from the same job text.
 */
#ifndef WR_PLAN_H
#define WR_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobspec.h"

enum wr_edge_kind {
	WR_EDGE_FORWARD,   /* subtask i -> subtask i (equal parallelism) */
	WR_EDGE_REBALANCE, /* round robin (parallelism differs, no key) */
	WR_EDGE_HASH,      /* by key group */
};

typedef struct wr_edge {
	int from_vertex;
	int to_vertex;
	int from_node;   /* last node of the upstream chain feeding it */
	int to_node;     /* first node of the downstream chain */
	int input_index; /* which input of to_node (0, or 1 for a join) */
	enum wr_edge_kind kind;
	/* from_node's side output (a window's late_output, a pattern's
	 * timeout_output), not its main output:
	 * the producer sends only side records on it. Never chained. */
	bool side;
	/* HASH: the fields of the records on this edge whose values decide
	 * the key group (to_node's key_by; for a join, its input's join
	 * keys: on for the left side, right_on, on or the table's primary
	 * key for the other, paired in order so equal keys meet). */
	int keys[WR_MAX_FIELDS];
	int nkeys;
} wr_edge;

typedef struct wr_vertex {
	char name[128]; /* "orders -> paid" */
	int parallelism;
	int nodes[WR_JOB_MAX_NODES]; /* chain members in topological order */
	int nnodes;
} wr_vertex;

typedef struct wr_plan {
	const wr_jobspec *spec; /* not owned */
	wr_vertex *vertices;
	int nvertices;
	wr_edge *edges;
	int nedges;
	int node_vertex[WR_JOB_MAX_NODES]; /* node index -> vertex index */
} wr_plan;

/* Builds the plan. Errors: WR_EINVAL with the reason (a shape the runtime
 * cannot execute yet). */
int wr_plan_build(const wr_jobspec *spec, wr_plan **out, char *errbuf,
                  size_t errlen);
void wr_plan_free(wr_plan *plan);

/*
 * Slots the job needs. As in Flink's default slot sharing, slot i runs
 * subtask i of every vertex that has one, so a job needs as many slots as
 * its largest parallelism.
 */
int wr_plan_slots_needed(const wr_plan *plan);

/*
 * Key groups (Flink's scheme): key group = hash % max_parallelism;
 * subtask = key_group * parallelism / max_parallelism. A key group never
 * changes for a key, so state can be redistributed when parallelism
 * changes.
 */
static inline int
wr_key_group(uint64_t key_hash, int max_parallelism)
{
	return (int)(key_hash % (uint64_t)max_parallelism);
}

static inline int
wr_key_group_subtask(int key_group, int max_parallelism, int parallelism)
{
	return (int)((int64_t)key_group * parallelism / max_parallelism);
}

#endif
