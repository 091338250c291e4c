/*
 * source_nexmark.c - the nexmark source: Nexmark's persons, auctions and
 * bids generated inside the job (nexmark_gen.c) into the flattened row
 * the job parser defines (common/job/jobspec.c, docs/job-reference.md).
 */
#include "nexmark_gen.h"
#include "source_gen.h"

#include "err.h"

#include <string.h>

/* The columns of the flattened schema, found by name once per run. */
enum tm_nex_col {
	TM_NEX_C_NONE,
	TM_NEX_C_EVENT_TYPE,
	TM_NEX_C_TS,
	TM_NEX_C_PERSON_ID,
	TM_NEX_C_NAME,
	TM_NEX_C_EMAIL,
	TM_NEX_C_CREDIT_CARD,
	TM_NEX_C_CITY,
	TM_NEX_C_STATE,
	TM_NEX_C_AUCTION_ID,
	TM_NEX_C_ITEM_NAME,
	TM_NEX_C_DESCRIPTION,
	TM_NEX_C_INITIAL_BID,
	TM_NEX_C_RESERVE,
	TM_NEX_C_EXPIRES,
	TM_NEX_C_SELLER,
	TM_NEX_C_CATEGORY,
	TM_NEX_C_BIDDER,
	TM_NEX_C_PRICE,
	TM_NEX_C_CHANNEL,
	TM_NEX_C_URL,
	TM_NEX_C_EXTRA,
};

static const char *const tm_nex_col_names[] = {
    "",          "event_type",  "ts",          "person_id", "name",
    "email",     "credit_card", "city",        "state",     "auction_id",
    "item_name", "description", "initial_bid", "reserve",   "expires",
    "seller",    "category",    "bidder",      "price",     "channel",
    "url",       "extra"};

static void
tm_nex_cols(const wr_schema *s, uint8_t *cols)
{
	for (uint32_t i = 0; i < s->n; i++) {
		cols[i] = TM_NEX_C_NONE;
		for (size_t c = 1;
		     c < sizeof(tm_nex_col_names) / sizeof(tm_nex_col_names[0]);
		     c++)
			if (strcmp(s->fields[i].name, tm_nex_col_names[c]) == 0)
				cols[i] = (uint8_t)c;
	}
}

static void
tm_nex_str(wr_value *v, const char *p, size_t len)
{
	v->u.s.p = p;
	v->u.s.len = (uint32_t)len;
}

/* The value of column c of ev, or false when ev's kind has none. */
static bool
tm_nex_value(const tm_nex_event *ev, int c, wr_value *v)
{
	bool p = ev->kind == TM_NEX_PERSON, a = ev->kind == TM_NEX_AUCTION;
	bool b = ev->kind == TM_NEX_BID;
	static const char *const kinds[] = {"person", "auction", "bid"};

	switch (c) {
	case TM_NEX_C_EVENT_TYPE:
		tm_nex_str(v, kinds[ev->kind], strlen(kinds[ev->kind]));
		return true;
	case TM_NEX_C_TS:
		v->u.i = ev->ts_ms;
		return true;
	case TM_NEX_C_PERSON_ID:
		v->u.i = ev->person_id;
		return p;
	case TM_NEX_C_NAME:
		tm_nex_str(v, ev->name, strlen(ev->name));
		return p;
	case TM_NEX_C_EMAIL:
		tm_nex_str(v, ev->email, strlen(ev->email));
		return p;
	case TM_NEX_C_CREDIT_CARD:
		tm_nex_str(v, ev->credit_card, strlen(ev->credit_card));
		return p;
	case TM_NEX_C_CITY:
		if (p)
			tm_nex_str(v, ev->city, strlen(ev->city));
		return p;
	case TM_NEX_C_STATE:
		if (p)
			tm_nex_str(v, ev->state, strlen(ev->state));
		return p;
	case TM_NEX_C_AUCTION_ID:
		v->u.i = ev->auction_id;
		return a || b;
	case TM_NEX_C_ITEM_NAME:
		tm_nex_str(v, ev->item_name, strlen(ev->item_name));
		return a;
	case TM_NEX_C_DESCRIPTION:
		tm_nex_str(v, ev->description, strlen(ev->description));
		return a;
	case TM_NEX_C_INITIAL_BID:
		v->u.i = ev->initial_bid;
		return a;
	case TM_NEX_C_RESERVE:
		v->u.i = ev->reserve;
		return a;
	case TM_NEX_C_EXPIRES:
		v->u.i = ev->expires_ms;
		return a;
	case TM_NEX_C_SELLER:
		v->u.i = ev->seller;
		return a;
	case TM_NEX_C_CATEGORY:
		v->u.i = ev->category;
		return a;
	case TM_NEX_C_BIDDER:
		v->u.i = ev->bidder;
		return b;
	case TM_NEX_C_PRICE:
		v->u.i = ev->price;
		return b;
	case TM_NEX_C_CHANNEL:
		if (b)
			tm_nex_str(v, ev->channel_p, strlen(ev->channel_p));
		return b;
	case TM_NEX_C_URL:
		if (b)
			tm_nex_str(v, ev->url_p, strlen(ev->url_p));
		return b;
	case TM_NEX_C_EXTRA:
		tm_nex_str(v, ev->extra, ev->extra_len);
		return true;
	default:
		return false;
	}
}

static void
tm_nex_row(const wr_schema *s, const uint8_t *cols, const tm_nex_event *ev,
           wr_row *r)
{
	r->n = s->n;
	for (uint32_t i = 0; i < s->n; i++) {
		wr_value *v = &r->v[i];
		v->type = (uint8_t)s->fields[i].type;
		if (!tm_nex_value(ev, cols[i], v))
			v->type = WR_T_NULL;
	}
}

/* A nexmark run: where this subtask's event ids start, the events' step
 * and the schema's columns. */
typedef struct tm_nexmark {
	const wr_schema *schema;
	int64_t first, rate, step_us;
	uint8_t cols[WR_MAX_FIELDS];
	tm_nex_event ev;
} tm_nexmark;

static void
tm_nex_make(void *ctx, int64_t n, wr_row *r)
{
	tm_nexmark *g = ctx;
	tm_nex_event_gen(g->first + n, tm_nex_time_ms(n, g->rate), g->step_us,
	                 &g->ev);
	tm_nex_row(g->schema, g->cols, &g->ev, r);
}

/* Generates `count` events per subtask (0 = forever) at `rate` per second
 * per subtask (0 = as fast as downstream takes them). Subtask k of a
 * bounded source generates event ids k*count .. (k+1)*count-1, of an
 * unbounded one ids from k*2^40; event times are the same on every
 * subtask: base + n * 1000 / rate ms for its n-th event (1 ms steps at
 * rate 0), so watermarks advance together. */
static int
tm_source_nexmark_run(tm_src *src, const wr_node_spec *node)
{
	const wr_source_spec *s = &node->source;
	tm_nexmark g = {
	    .schema = &node->out,
	    .first = tm_src_conf(src)->subtask *
	             (s->count > 0 ? s->count : (int64_t)1 << 40),
	    .rate = s->rate,
	    .step_us = s->rate > 0 ? 1000000 / s->rate : 1000,
	};
	tm_nex_cols(g.schema, g.cols);
	return tm_gen_run(src, node, tm_nex_make, &g);
}

const tm_source_vt tm_source_nexmark = {
    .name = "nexmark",
    .run = tm_source_nexmark_run,
};
