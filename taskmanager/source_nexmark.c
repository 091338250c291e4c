/*
 * source_nexmark.c - the nexmark source: Nexmark's persons, auctions and
 * bids generated inside the job (nexmark_gen.c) into the flattened row
 * the job parser defines (common/job/jobspec.c, docs/job-reference.md).
 */
#include "nexmark_gen.h"
#include "source_gen.h"

#include "err.h"
#include "mem.h"

#include <stdlib.h>
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
tm_nex_str(wr_value *v, const char *p, uint32_t len)
{
	v->u.s.p = p;
	v->u.s.len = len;
}

/* Whether column c has a value in events of kind k (else it is null). */
static bool
tm_nex_has(enum tm_nex_kind k, int c)
{
	switch (c) {
	case TM_NEX_C_EVENT_TYPE:
	case TM_NEX_C_TS:
	case TM_NEX_C_EXTRA:
		return true;
	case TM_NEX_C_PERSON_ID:
	case TM_NEX_C_NAME:
	case TM_NEX_C_EMAIL:
	case TM_NEX_C_CREDIT_CARD:
	case TM_NEX_C_CITY:
	case TM_NEX_C_STATE:
		return k == TM_NEX_PERSON;
	case TM_NEX_C_AUCTION_ID:
		return k == TM_NEX_AUCTION || k == TM_NEX_BID;
	case TM_NEX_C_ITEM_NAME:
	case TM_NEX_C_DESCRIPTION:
	case TM_NEX_C_INITIAL_BID:
	case TM_NEX_C_RESERVE:
	case TM_NEX_C_EXPIRES:
	case TM_NEX_C_SELLER:
	case TM_NEX_C_CATEGORY:
		return k == TM_NEX_AUCTION;
	case TM_NEX_C_BIDDER:
	case TM_NEX_C_PRICE:
	case TM_NEX_C_CHANNEL:
	case TM_NEX_C_URL:
		return k == TM_NEX_BID;
	default:
		return false;
	}
}

/* Sets column c's value from ev, whose kind has one (tm_nex_has). */
static void
tm_nex_value(const tm_nex_event *ev, int c, wr_value *v)
{
	static const char *const kinds[] = {"person", "auction", "bid"};
	static const uint32_t kind_len[] = {6, 7, 3};

	switch (c) {
	case TM_NEX_C_EVENT_TYPE:
		tm_nex_str(v, kinds[ev->kind], kind_len[ev->kind]);
		break;
	case TM_NEX_C_TS:
		v->u.i = ev->ts_ms;
		break;
	case TM_NEX_C_PERSON_ID:
		v->u.i = ev->person_id;
		break;
	case TM_NEX_C_NAME:
		tm_nex_str(v, ev->name, ev->name_len);
		break;
	case TM_NEX_C_EMAIL:
		tm_nex_str(v, ev->email, ev->email_len);
		break;
	case TM_NEX_C_CREDIT_CARD:
		tm_nex_str(v, ev->credit_card, ev->credit_card_len);
		break;
	case TM_NEX_C_CITY:
		tm_nex_str(v, ev->city, ev->city_len);
		break;
	case TM_NEX_C_STATE:
		tm_nex_str(v, ev->state, ev->state_len);
		break;
	case TM_NEX_C_AUCTION_ID:
		v->u.i = ev->auction_id;
		break;
	case TM_NEX_C_ITEM_NAME:
		tm_nex_str(v, ev->item_name, ev->item_name_len);
		break;
	case TM_NEX_C_DESCRIPTION:
		tm_nex_str(v, ev->description, ev->description_len);
		break;
	case TM_NEX_C_INITIAL_BID:
		v->u.i = ev->initial_bid;
		break;
	case TM_NEX_C_RESERVE:
		v->u.i = ev->reserve;
		break;
	case TM_NEX_C_EXPIRES:
		v->u.i = ev->expires_ms;
		break;
	case TM_NEX_C_SELLER:
		v->u.i = ev->seller;
		break;
	case TM_NEX_C_CATEGORY:
		v->u.i = ev->category;
		break;
	case TM_NEX_C_BIDDER:
		v->u.i = ev->bidder;
		break;
	case TM_NEX_C_PRICE:
		v->u.i = ev->price;
		break;
	case TM_NEX_C_CHANNEL:
		tm_nex_str(v, ev->channel_p, ev->channel_len);
		break;
	case TM_NEX_C_URL:
		tm_nex_str(v, ev->url_p, ev->url_len);
		break;
	case TM_NEX_C_EXTRA:
		tm_nex_str(v, ev->extra, ev->extra_len);
		break;
	default:
		break;
	}
}

/* Per event kind, the row's shape made once a run: the columns the kind
 * has no value in are null in `tmpl`, the others listed in `fill` (with
 * their TM_NEX_C_*), so an event sets only its own kind's values. */
typedef struct tm_nex_shape {
	wr_row tmpl;
	uint32_t nfill;
	uint8_t fill[WR_MAX_FIELDS], col[WR_MAX_FIELDS];
} tm_nex_shape;

static void
tm_nex_shape_init(const wr_schema *s, const uint8_t *cols, enum tm_nex_kind k,
                  tm_nex_shape *sh)
{
	sh->tmpl.n = s->n;
	sh->nfill = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		wr_value *v = &sh->tmpl.v[i];
		memset(v, 0, sizeof(*v));
		v->type = WR_T_NULL;
		if (!tm_nex_has(k, cols[i]))
			continue;
		v->type = (uint8_t)s->fields[i].type;
		sh->fill[sh->nfill] = (uint8_t)i;
		sh->col[sh->nfill++] = cols[i];
	}
}

static void
tm_nex_row(const tm_nex_shape *sh, const tm_nex_event *ev, wr_row *r)
{
	r->n = sh->tmpl.n;
	memcpy(r->v, sh->tmpl.v, sh->tmpl.n * sizeof(r->v[0]));
	for (uint32_t j = 0; j < sh->nfill; j++)
		tm_nex_value(ev, sh->col[j], &r->v[sh->fill[j]]);
}

/* A nexmark run: where this subtask's event ids start, the events' step
 * and the rows' shapes. */
typedef struct tm_nexmark {
	int64_t first, rate, step_us;
	tm_nex_shape shape[3]; /* by enum tm_nex_kind */
	tm_nex_event ev;
} tm_nexmark;

static void
tm_nex_make(void *ctx, int64_t n, wr_row *r)
{
	tm_nexmark *g = ctx;
	tm_nex_event_gen(g->first + n, tm_nex_time_ms(n, g->rate), g->step_us,
	                 &g->ev);
	tm_nex_row(&g->shape[g->ev.kind], &g->ev, r);
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
	uint8_t cols[WR_MAX_FIELDS];
	tm_nexmark *g = wr_xcalloc(1, sizeof(*g));
	*g = (tm_nexmark){
	    .first = tm_src_conf(src)->subtask *
	             (s->count > 0 ? s->count : (int64_t)1 << 40),
	    .rate = s->rate,
	    .step_us = s->rate > 0 ? 1000000 / s->rate : 1000,
	};
	tm_nex_cols(&node->out, cols);
	for (int k = TM_NEX_PERSON; k <= TM_NEX_BID; k++)
		tm_nex_shape_init(&node->out, cols, (enum tm_nex_kind)k,
		                  &g->shape[k]);
	int rv = tm_gen_run(src, node, tm_nex_make, g);
	free(g);
	return rv;
}

const tm_source_vt tm_source_nexmark = {
    .name = "nexmark",
    .run = tm_source_nexmark_run,
};
