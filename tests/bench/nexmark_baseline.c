/*
 * nexmark_baseline.c - the Nexmark queries of examples/nexmark/ written by
 * hand: one thread generates the same events as the nexmark source
 * (taskmanager/nexmark_gen.h, parallelism 1, rate 0), computes the query
 * and writes its result as JSON lines, as the job's file sink would (OUT
 * `-`: computes and counts the results and writes nothing, as the
 * blackhole sink). scripts/bench.sh compares weir against it, and
 * tests/integration/test_nexmark.py checks weir's results against its
 * (docs/benchmarks.md).
 *
 *   nexmark_baseline q0|q1|q2|q3|q5|q7|q8 EVENTS OUT_FILE|-
 *
 * Prints "events N wall_s W cpu_s C events_per_s E rows R".
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

static FILE *nb_out; /* NULL: blackhole */
static int64_t nb_rows;

/* Counts one result; true when it is to be written. */
static int
nb_row(void)
{
	nb_rows++;
	return nb_out != NULL;
}

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
	if (!nb_row())
		return;
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

static void
nb_q1(const tm_nex_event *e)
{
	if (e->kind != TM_NEX_BID || !nb_row())
		return;
	fprintf(nb_out,
	        "{\"auction\":%" PRId64 ",\"bidder\":%" PRId64
	        ",\"price\":%.17g,\"ts\":",
	        e->auction_id, e->bidder, (double)e->price * 0.908);
	nb_ts(e->ts_ms);
	fputs("}\n", nb_out);
}

static void
nb_q2(const tm_nex_event *e)
{
	if (e->kind == TM_NEX_BID && e->auction_id % 123 == 0 && nb_row())
		fprintf(nb_out,
		        "{\"auction\":%" PRId64 ",\"price\":%" PRId64 "}\n",
		        e->auction_id, e->price);
}

/* q3: persons by index (ids are dense from TM_NEX_FIRST_PERSON_ID), and
 * the auctions whose seller has not been created yet. An unbounded join,
 * as Nexmark's: examples/nexmark/q3.yaml's interval join must equal it. */
typedef struct nb_person {
	const char *city, *state;
	char name[32];
	int seen;
} nb_person;

typedef struct nb_join {
	nb_person *people;
	int64_t cap;
	int64_t (*pending)[2]; /* auction id, seller id */
	int64_t npending, pcap;
} nb_join;

static int
nb_local(const char *state)
{
	return strcmp(state, "OR") == 0 || strcmp(state, "ID") == 0 ||
	       strcmp(state, "CA") == 0;
}

static void
nb_q3_out(const nb_person *p, int64_t auction)
{
	if (!nb_local(p->state) || !nb_row())
		return;
	fprintf(nb_out,
	        "{\"name\":\"%s\",\"city\":\"%s\",\"state\":\"%s\","
	        "\"auction\":%" PRId64 "}\n",
	        p->name, p->city, p->state, auction);
}

static void
nb_q3_person(nb_join *j, const tm_nex_event *e)
{
	int64_t i = e->person_id - TM_NEX_FIRST_PERSON_ID;
	if (i >= j->cap)
		return;
	nb_person *p = &j->people[i];
	p->city = e->city;
	p->state = e->state;
	snprintf(p->name, sizeof(p->name), "%s", e->name);
	p->seen = 1;
	for (int64_t k = 0; k < j->npending;) {
		if (j->pending[k][1] != e->person_id) {
			k++;
			continue;
		}
		nb_q3_out(p, j->pending[k][0]);
		j->npending--;
		j->pending[k][0] = j->pending[j->npending][0];
		j->pending[k][1] = j->pending[j->npending][1];
	}
}

static void
nb_q3(nb_join *j, const tm_nex_event *e)
{
	if (e->kind == TM_NEX_PERSON) {
		nb_q3_person(j, e);
		return;
	}
	if (e->kind != TM_NEX_AUCTION || e->category != 10)
		return;
	int64_t i = e->seller - TM_NEX_FIRST_PERSON_ID;
	if (i >= 0 && i < j->cap && j->people[i].seen) {
		nb_q3_out(&j->people[i], e->auction_id);
		return;
	}
	if (j->npending == j->pcap) {
		j->pcap = j->pcap ? 2 * j->pcap : 64;
		j->pending = realloc(j->pending, sizeof(*j->pending) * j->pcap);
		if (j->pending == NULL) {
			perror("nexmark_baseline");
			exit(1);
		}
	}
	j->pending[j->npending][0] = e->auction_id;
	j->pending[j->npending][1] = e->seller;
	j->npending++;
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

/* Emits the window's auctions with the largest count (all of them when
 * several tie) and empties it. */
static void
nb_window_fire(nb_window *w)
{
	int64_t best = 0;
	for (int k = 0; k < w->n; k++)
		if (w->counts[w->used[k]] > best)
			best = w->counts[w->used[k]];
	for (int k = 0; k < w->n; k++) {
		int i = w->used[k];
		if (w->counts[i] == best && nb_row()) {
			fprintf(nb_out,
			        "{\"auction\":%" PRId64 ",\"num\":%" PRId64
			        ",\"window_end\":",
			        w->keys[i], best);
			nb_ts(w->start_ms + NB_WINDOW_MS);
			fputs("}\n", nb_out);
		}
		w->counts[i] = 0;
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

/* q7: the bids at the largest price so far of the current window. */
#define NB_Q7_TIES 256

typedef struct nb_max {
	int64_t start_ms, max_price;
	int n;
	tm_nex_event top[NB_Q7_TIES]; /* only the bid fields are kept */
} nb_max;

static void
nb_q7_fire(nb_max *m)
{
	for (int k = 0; k < m->n; k++) {
		const tm_nex_event *b = &m->top[k];
		if (!nb_row())
			continue;
		fprintf(nb_out,
		        "{\"auction\":%" PRId64 ",\"price\":%" PRId64
		        ",\"bidder\":%" PRId64 ",\"ts\":",
		        b->auction_id, b->price, b->bidder);
		nb_ts(b->ts_ms);
		fputs("}\n", nb_out);
	}
	m->n = 0;
}

static void
nb_q7(nb_max *m, const tm_nex_event *e)
{
	int64_t start = e->ts_ms / NB_WINDOW_MS * NB_WINDOW_MS;
	if (start != m->start_ms) {
		nb_q7_fire(m);
		m->start_ms = start;
	}
	if (e->kind != TM_NEX_BID || (m->n > 0 && e->price < m->max_price))
		return;
	if (m->n > 0 && e->price > m->max_price)
		m->n = 0;
	if (m->n == NB_Q7_TIES) {
		fprintf(stderr, "nexmark_baseline: too many tied bids\n");
		exit(1);
	}
	m->max_price = e->price;
	tm_nex_event *b = &m->top[m->n++];
	b->auction_id = e->auction_id;
	b->price = e->price;
	b->bidder = e->bidder;
	b->ts_ms = e->ts_ms;
}

/* q8: the persons and the sellers of the current 10 s window. */
#define NB_Q8_MAX 8192

typedef struct nb_news {
	int64_t start_ms;
	int np, ns;
	int64_t ids[NB_Q8_MAX], sellers[NB_Q8_MAX];
	char names[NB_Q8_MAX][32];
} nb_news;

static int
nb_cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void
nb_q8_fire(nb_news *w)
{
	qsort(w->sellers, (size_t)w->ns, sizeof(int64_t), nb_cmp64);
	for (int k = 0; k < w->np; k++) {
		if (bsearch(&w->ids[k], w->sellers, (size_t)w->ns,
		            sizeof(int64_t), nb_cmp64) == NULL ||
		    !nb_row())
			continue;
		fprintf(nb_out,
		        "{\"id\":%" PRId64 ",\"name\":\"%s\",\"starttime\":",
		        w->ids[k], w->names[k]);
		nb_ts(w->start_ms);
		fputs("}\n", nb_out);
	}
	w->np = w->ns = 0;
}

static void
nb_q8(nb_news *w, const tm_nex_event *e)
{
	int64_t start = e->ts_ms / NB_WINDOW_MS * NB_WINDOW_MS;
	if (start != w->start_ms) {
		nb_q8_fire(w);
		w->start_ms = start;
	}
	if (w->np == NB_Q8_MAX || w->ns == NB_Q8_MAX) {
		fprintf(stderr, "nexmark_baseline: window full\n");
		exit(1);
	}
	if (e->kind == TM_NEX_PERSON) {
		w->ids[w->np] = e->person_id;
		snprintf(w->names[w->np++], sizeof(w->names[0]), "%s", e->name);
	} else if (e->kind == TM_NEX_AUCTION)
		w->sellers[w->ns++] = e->seller;
}

/* The state of every query; one of them is used. */
typedef struct nb_state {
	nb_join q3;
	nb_window ws[NB_PANES];
	nb_max m;
	nb_news q8;
} nb_state;

static int
nb_query(int q, nb_state *s, const tm_nex_event *e)
{
	switch (q) {
	case 0:
		nb_q0(e);
		return 0;
	case 1:
		nb_q1(e);
		return 0;
	case 2:
		nb_q2(e);
		return 0;
	case 3:
		nb_q3(&s->q3, e);
		return 0;
	case 5:
		nb_q5(s->ws, e);
		return 0;
	case 7:
		nb_q7(&s->m, e);
		return 0;
	case 8:
		nb_q8(&s->q8, e);
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	if (argc != 4 || strlen(argv[1]) != 2 || argv[1][0] != 'q') {
		fprintf(stderr, "usage: nexmark_baseline "
		                "q0|q1|q2|q3|q5|q7|q8 EVENTS OUT|-\n");
		return 2;
	}
	int q = argv[1][1] - '0';
	int64_t count = strtoll(argv[2], NULL, 10);
	if (strcmp(argv[3], "-") != 0) {
		if ((nb_out = fopen(argv[3], "w")) == NULL) {
			perror(argv[3]);
			return 1;
		}
		setvbuf(nb_out, NULL, _IOFBF, 1 << 20);
	}
	static nb_state s;
	static tm_nex_event e;
	s.m.start_ms = s.q8.start_ms = -1;
	for (int k = 0; k < NB_PANES; k++)
		s.ws[k].start_ms = -1;
	s.q3.cap = count / TM_NEX_TOTAL_PROPORTION + 64;
	if (q == 3 && (s.q3.people = calloc((size_t)s.q3.cap,
	                                    sizeof(nb_person))) == NULL) {
		perror("nexmark_baseline");
		return 1;
	}
	double w0 = nb_now(CLOCK_MONOTONIC);
	double c0 = nb_now(CLOCK_PROCESS_CPUTIME_ID);
	for (int64_t n = 0; n < count; n++) {
		tm_nex_event_gen(n, tm_nex_time_ms(n, 0), 1000, &e);
		if (nb_query(q, &s, &e) < 0) {
			fprintf(stderr, "nexmark_baseline: no query %s\n",
			        argv[1]);
			return 2;
		}
	}
	for (int k = 0; k < NB_PANES; k++)
		nb_window_fire(&s.ws[k]);
	nb_q7_fire(&s.m);
	nb_q8_fire(&s.q8);
	if (nb_out != NULL)
		fclose(nb_out);
	double wall = nb_now(CLOCK_MONOTONIC) - w0;
	double cpu = nb_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("events %" PRId64 " wall_s %.3f cpu_s %.3f events_per_s %.0f "
	       "rows %" PRId64 "\n",
	       count, wall, cpu, (double)count / wall, nb_rows);
	free(s.q3.people);
	free(s.q3.pending);
	return 0;
}
