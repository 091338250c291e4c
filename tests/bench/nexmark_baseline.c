/*
 * nexmark_baseline.c - the Nexmark queries of examples/nexmark/ written by
 * hand: one thread generates the same events as the nexmark source
 * (taskmanager/nexmark_gen.h, parallelism 1, rate 0), computes the query
 * and writes its result as JSON lines, as the job's file sink would.
 * scripts/bench.sh compares weir against it (docs/benchmarks.md).
 *
 *   nexmark_baseline q0|q1|q2|q5|q7 EVENTS OUT_FILE
 *
 * Prints "events N wall_s W cpu_s C events_per_s E".
 */
#include "nexmark_gen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NB_WINDOW_MS 10000
#define NB_SLIDE_MS  2000
#define NB_PANES     (NB_WINDOW_MS / NB_SLIDE_MS)
#define NB_TABLE     4096 /* auctions counted per window: a few hundred */

static FILE *nb_out;

static double
nb_now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ISO-8601 UTC with milliseconds, as weir writes timestamps. */
static void
nb_ts(int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	fprintf(nb_out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
	        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	        tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void
nb_str(const char *key, const char *v, int present)
{
	if (present)
		fprintf(nb_out, ",\"%s\":\"%s\"", key, v);
	else
		fprintf(nb_out, ",\"%s\":null", key);
}

static void
nb_long(const char *key, int64_t v, int present)
{
	if (present)
		fprintf(nb_out, ",\"%s\":%" PRId64, key, v);
	else
		fprintf(nb_out, ",\"%s\":null", key);
}

static void
nb_q0(const tm_nex_event *e)
{
	static const char *const kinds[] = {"person", "auction", "bid"};
	int p = e->kind == TM_NEX_PERSON, a = e->kind == TM_NEX_AUCTION;
	int b = e->kind == TM_NEX_BID;
	fprintf(nb_out, "{\"event_type\":\"%s\",\"ts\":", kinds[e->kind]);
	nb_ts(e->ts_ms);
	nb_long("person_id", e->person_id, p);
	nb_str("name", e->name, p);
	nb_str("email", e->email, p);
	nb_str("credit_card", e->credit_card, p);
	nb_str("city", p ? e->city : "", p);
	nb_str("state", p ? e->state : "", p);
	nb_long("auction_id", e->auction_id, a || b);
	nb_str("item_name", e->item_name, a);
	nb_str("description", e->description, a);
	nb_long("initial_bid", e->initial_bid, a);
	nb_long("reserve", e->reserve, a);
	if (a) {
		fputs(",\"expires\":", nb_out);
		nb_ts(e->expires_ms);
	} else
		fputs(",\"expires\":null", nb_out);
	nb_long("seller", e->seller, a);
	nb_long("category", e->category, a);
	nb_long("bidder", e->bidder, b);
	nb_long("price", e->price, b);
	nb_str("channel", b ? e->channel_p : "", b);
	nb_str("url", b ? e->url_p : "", b);
	nb_str("extra", e->extra, 1);
	fputs("}\n", nb_out);
}

/* Bid counts per auction of one sliding window: open addressing. */
typedef struct nb_window {
	int64_t start_ms;
	int64_t keys[NB_TABLE];
	int64_t counts[NB_TABLE];
	int used[NB_TABLE];
	int n;
} nb_window;

static void
nb_window_add(nb_window *w, int64_t auction)
{
	size_t i = (size_t)((uint64_t)auction * 0x9e3779b97f4a7c15ull >> 52);
	for (;; i = (i + 1) % NB_TABLE) {
		if (w->counts[i] == 0) {
			if (w->n * 2 >= NB_TABLE) {
				fprintf(stderr,
				        "nexmark_baseline: window full\n");
				exit(1);
			}
			w->keys[i] = auction;
			w->used[w->n++] = (int)i;
		} else if (w->keys[i] != auction)
			continue;
		w->counts[i]++;
		return;
	}
}

/* Emits the window's largest count and empties it. */
static void
nb_window_fire(nb_window *w)
{
	int64_t best = 0;
	for (int k = 0; k < w->n; k++) {
		int i = w->used[k];
		if (w->counts[i] > best)
			best = w->counts[i];
		w->counts[i] = 0;
	}
	if (w->n > 0) {
		fputs("{\"window_end\":", nb_out);
		nb_ts(w->start_ms + NB_WINDOW_MS);
		fprintf(nb_out, ",\"max_num\":%" PRId64 "}\n", best);
	}
	w->n = 0;
}

/* q5: each bid counts in the NB_PANES windows that hold it; a window
 * fires once an event at or past its end arrives (event time is
 * ordered, as the watermark at max_out_of_orderness 0). */
static void
nb_q5(nb_window *ws, const tm_nex_event *e)
{
	int64_t pane = e->ts_ms / NB_SLIDE_MS * NB_SLIDE_MS;
	for (int k = 0; k < NB_PANES; k++) {
		int64_t start = pane - (int64_t)k * NB_SLIDE_MS;
		nb_window *w = &ws[(start / NB_SLIDE_MS) % NB_PANES];
		if (w->start_ms != start) {
			nb_window_fire(w);
			w->start_ms = start;
		}
		if (e->kind == TM_NEX_BID)
			nb_window_add(w, e->auction_id);
	}
}

typedef struct nb_max {
	int64_t start_ms, max_price, bids;
} nb_max;

static void
nb_q7_fire(const nb_max *m)
{
	if (m->bids == 0)
		return;
	fputs("{\"all\":0,\"window_start\":", nb_out);
	nb_ts(m->start_ms);
	fputs(",\"window_end\":", nb_out);
	nb_ts(m->start_ms + NB_WINDOW_MS);
	fprintf(nb_out, ",\"max_price\":%" PRId64 ",\"bids\":%" PRId64 "}\n",
	        m->max_price, m->bids);
}

static void
nb_q7(nb_max *m, const tm_nex_event *e)
{
	int64_t start = e->ts_ms / NB_WINDOW_MS * NB_WINDOW_MS;
	if (start != m->start_ms) {
		nb_q7_fire(m);
		m->start_ms = start;
		m->max_price = 0;
		m->bids = 0;
	}
	if (e->kind != TM_NEX_BID)
		return;
	if (m->bids == 0 || e->price > m->max_price)
		m->max_price = e->price;
	m->bids++;
}

int
main(int argc, char **argv)
{
	if (argc != 4 || strlen(argv[1]) != 2 || argv[1][0] != 'q') {
		fprintf(stderr,
		        "usage: nexmark_baseline q0|q1|q2|q5|q7 EVENTS OUT\n");
		return 2;
	}
	int q = argv[1][1] - '0';
	int64_t count = strtoll(argv[2], NULL, 10);
	if ((nb_out = fopen(argv[3], "w")) == NULL) {
		perror(argv[3]);
		return 1;
	}
	setvbuf(nb_out, NULL, _IOFBF, 1 << 20);
	static nb_window ws[NB_PANES];
	static tm_nex_event e;
	nb_max m = {-1, 0, 0};
	for (int k = 0; k < NB_PANES; k++)
		ws[k].start_ms = -1;
	double w0 = nb_now(CLOCK_MONOTONIC);
	double c0 = nb_now(CLOCK_PROCESS_CPUTIME_ID);
	for (int64_t n = 0; n < count; n++) {
		tm_nex_event_gen(n, tm_nex_time_ms(n, 0), 1000, &e);
		switch (q) {
		case 0:
			nb_q0(&e);
			break;
		case 1:
			if (e.kind != TM_NEX_BID)
				break;
			fprintf(nb_out,
			        "{\"auction\":%" PRId64 ",\"bidder\":%" PRId64
			        ",\"price\":%.17g,\"ts\":",
			        e.auction_id, e.bidder,
			        (double)e.price * 0.908);
			nb_ts(e.ts_ms);
			fputs("}\n", nb_out);
			break;
		case 2:
			if (e.kind == TM_NEX_BID && e.auction_id % 123 == 0)
				fprintf(nb_out,
				        "{\"auction\":%" PRId64
				        ",\"price\":%" PRId64 "}\n",
				        e.auction_id, e.price);
			break;
		case 5:
			nb_q5(ws, &e);
			break;
		case 7:
			nb_q7(&m, &e);
			break;
		default:
			fprintf(stderr, "nexmark_baseline: no query %s\n",
			        argv[1]);
			return 2;
		}
	}
	for (int k = 0; k < NB_PANES; k++)
		nb_window_fire(&ws[k]);
	nb_q7_fire(&m);
	fclose(nb_out);
	double wall = nb_now(CLOCK_MONOTONIC) - w0;
	double cpu = nb_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("events %" PRId64 " wall_s %.3f cpu_s %.3f events_per_s %.0f\n",
	       count, wall, cpu, (double)count / wall);
	return 0;
}
