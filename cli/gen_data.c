/*
 * gen_data.c - the events of `weir gen`: orders (Zipf-hot products,
 * log-normal amounts), clicks (users in sessions separated by idle gaps),
 * payments (cards with planted fraud shapes), catalog (a snapshot of every
 * product, then updates and tombstones) and readings (sensors with
 * planted spikes). docs/operations.md ("Test data") documents each shape
 * so that tests and demos can count on it.
 *
 * Clicks, payments and readings simulate their actors: each has the time
 * of its next event, a heap gives the earliest, and its step function
 * writes the event and schedules the next, so the events come out in
 * event-time order. Their clock starts where a run of --count events
 * would end about now (the mean gap between an actor's events x count /
 * actors before the start).
 */
#include "gen.h"

#include "mem.h"
#include "wr_limits.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- orders ---- */
#define CLI_GEN_CUSTOMERS 100000
/* Zipf exponent of product popularity: with 1.0 the hottest of 100
 * products gets about 19% of the orders, the coldest 0.2%. */
#define CLI_GEN_ZIPF_S 1.0
/* Log-normal amounts: median e^mu = 50, mean e^(mu + sigma^2 / 2) = 60. */
#define CLI_GEN_AMOUNT_MU    3.912
#define CLI_GEN_AMOUNT_SIGMA 0.604
#define CLI_GEN_AMOUNT_MIN   1.0
#define CLI_GEN_AMOUNT_MAX   10000.0
/* Every order is up to this much behind the clock; late ones are
 * LATE_MIN .. LATE_MAX behind (past typical out-of-orderness bounds). */
#define CLI_GEN_DELAY_MAX_MS 2000
#define CLI_GEN_LATE_MIN_MS  10000
#define CLI_GEN_LATE_MAX_MS  60000
/* ---- clicks: sessions of 1 + geometric(mean 5) clicks, at most 30,
 * 1-20 s apart; 60-600 s idle between a user's sessions, so any session
 * gap from 21 s to 59 s cuts them exactly. */
#define CLI_GEN_CLICK_GAP_MS   1000, 20000
#define CLI_GEN_IDLE_GAP_MS    60000, 600000
#define CLI_GEN_SESSION_CLICKS 30
/* ---- payments: a card's events 30-600 s apart; planted shapes' steps
 * 5-40 s apart (a burst of three declines and an approval spans at most
 * 2 min) and 5-50 s (password change, then the big purchase). */
#define CLI_GEN_PAY_GAP_MS      30000, 600000
#define CLI_GEN_BURST_GAP_MS    5000, 40000
#define CLI_GEN_TAKEOVER_GAP_MS 5000, 50000
/* ---- readings: every 900-1100 ms per sensor; a daily-like swing of 2
 * degrees over 10 minutes, noise within 1.2; spikes 8-15 degrees off. */
#define CLI_GEN_READ_GAP_MS 900, 1100
#define CLI_GEN_SWING_MS    600000

enum cli_gen_kind_id {
	CLI_GEN_ORDERS,
	CLI_GEN_CLICKS,
	CLI_GEN_PAYMENTS,
	CLI_GEN_CATALOG,
	CLI_GEN_READINGS
};

const cli_gen_kind cli_gen_kinds[] = {
    [CLI_GEN_ORDERS] = {.name = "orders",
                        .noun = "orders",
                        .products = true,
                        .clock = true,
                        .late = true},
    [CLI_GEN_CLICKS] = {.name = "clicks",
                        .noun = "clicks",
                        .keys_what = "users",
                        .default_keys = 1000,
                        .mean_gap_ms = 64000,
                        .products = true,
                        .planted = {"sessions"}},
    [CLI_GEN_PAYMENTS] = {.name = "payments",
                          .noun = "payments",
                          .keys_what = "cards",
                          .default_keys = 1000,
                          .mean_gap_ms = 300000,
                          .planted = {"decline_bursts", "takeovers"}},
    [CLI_GEN_CATALOG] = {.name = "catalog",
                         .noun = "catalog updates",
                         .products = true,
                         .clock = true,
                         .planted = {"tombstones"}},
    [CLI_GEN_READINGS] = {.name = "readings",
                          .noun = "readings",
                          .keys_what = "sensors",
                          .default_keys = 100,
                          .mean_gap_ms = 1000,
                          .planted = {"spikes"}},
    {.name = NULL},
};

static const char *const cli_gen_categories[] = {
    "books",  "electronics", "garden", "kitchen",
    "sports", "toys",        "beauty", "grocery"};
/* Pages of a click, by weight; a product page names a product. */
static const struct {
	const char *page;
	int weight;
} cli_gen_pages[] = {{"/", 15},     {"/search", 20},  {"/product/", 45},
                     {"/cart", 12}, {"/checkout", 5}, {"/account", 3}};

/* xoshiro256** seeded through splitmix64: fast, and the same sequence on
 * every platform for a given seed. */
typedef struct cli_gen_rng {
	uint64_t s[4];
} cli_gen_rng;

/* One simulated user, card or sensor. */
typedef struct cli_gen_actor {
	int64_t next_ts;
	int left;      /* clicks left in the session; steps of a script */
	int script;    /* payments: 0 none, 1 decline burst, 2 takeover */
	double level;  /* customer's typical amount; sensor's baseline */
	bool declined; /* payments: the last event was a decline */
} cli_gen_actor;

struct cli_gen_src {
	const cli_gen_kind *kind;
	cli_gen_rng rng;
	uint64_t seed;
	double late_fraction;
	int nproducts;
	int pwidth;      /* digits of a product number, at least 3 */
	double *cdf;     /* orders: Zipf CDF by popularity rank */
	int *product_of; /* orders: rank -> product number */
	double *price;   /* catalog: current price; < 0 deleted */
	cli_gen_actor *actors;
	int nactors;
	int *heap; /* actor indices by (next_ts, index) */
	uint64_t planted[CLI_GEN_PLANTED_KINDS];
};

static uint64_t
cli_gen_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static void
cli_gen_rng_seed(cli_gen_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

static uint64_t
cli_gen_rng_next(cli_gen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = cli_gen_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = cli_gen_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1). */
static double
cli_gen_unit(cli_gen_src *g)
{
	return (double)(cli_gen_rng_next(&g->rng) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n); the bias of the multiply is below 2^-53 * n. */
static uint64_t
cli_gen_below(cli_gen_src *g, uint64_t n)
{
	return (uint64_t)(cli_gen_unit(g) * (double)n);
}

/* Uniform in [lo, hi]. */
static int64_t
cli_gen_between(cli_gen_src *g, int64_t lo, int64_t hi)
{
	return lo + (int64_t)cli_gen_below(g, (uint64_t)(hi - lo + 1));
}

/* Standard normal (Box-Muller). */
static double
cli_gen_normal(cli_gen_src *g)
{
	double u1 = 1.0 - cli_gen_unit(g); /* (0, 1]: log is finite */
	double u2 = cli_gen_unit(g);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double
cli_gen_cents(double a)
{
	return floor(a * 100.0 + 0.5) / 100.0;
}

/* ---- orders -------------------------------------------------------------- */

static void
cli_gen_orders_init(cli_gen_src *g)
{
	int n = g->nproducts;
	double sum = 0;

	g->cdf = wr_xcalloc((size_t)n, sizeof(double));
	g->product_of = wr_xcalloc((size_t)n, sizeof(int));
	for (int i = 0; i < n; i++) {
		sum += 1.0 / pow(i + 1, CLI_GEN_ZIPF_S);
		g->cdf[i] = sum;
		g->product_of[i] = i;
	}
	for (int i = 0; i < n; i++)
		g->cdf[i] /= sum;
	/* Which products are hot depends on the seed, not on their number. */
	for (int i = n - 1; i > 0; i--) {
		int j = (int)cli_gen_below(g, (uint64_t)i + 1);
		int t = g->product_of[i];
		g->product_of[i] = g->product_of[j];
		g->product_of[j] = t;
	}
}

/* A product number drawn by popularity: the first rank whose CDF passes
 * a uniform draw (binary search). */
static int
cli_gen_product(cli_gen_src *g)
{
	double u = cli_gen_unit(g);
	int lo = 0, hi = g->nproducts - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (g->cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return g->product_of[lo];
}

/* Log-normal, rounded to cents and kept within bounds. */
static double
cli_gen_amount(cli_gen_src *g)
{
	double z = cli_gen_normal(g);
	double a = exp(CLI_GEN_AMOUNT_MU + CLI_GEN_AMOUNT_SIGMA * z);
	a = a < CLI_GEN_AMOUNT_MIN ? CLI_GEN_AMOUNT_MIN : a;
	a = a > CLI_GEN_AMOUNT_MAX ? CLI_GEN_AMOUNT_MAX : a;
	return cli_gen_cents(a);
}

/* Every order takes the same number of draws, so the same seed gives the
 * same orders whatever --late-fraction says. */
static void
cli_gen_order(cli_gen_src *g, uint64_t n, int64_t now_ms, cli_gen_msg *m)
{
	int product = cli_gen_product(g);
	uint64_t customer = cli_gen_below(g, CLI_GEN_CUSTOMERS);
	double amount = cli_gen_amount(g);
	double st = cli_gen_unit(g);
	int64_t delay = (int64_t)cli_gen_below(g, CLI_GEN_DELAY_MAX_MS);
	bool late = cli_gen_unit(g) < g->late_fraction;
	int64_t late_delay = CLI_GEN_LATE_MIN_MS +
	                     (int64_t)cli_gen_below(g, CLI_GEN_LATE_MAX_MS -
	                                                   CLI_GEN_LATE_MIN_MS);
	const char *status = st < 0.80   ? "PAID"
	                     : st < 0.95 ? "PENDING"
	                                 : "CANCELLED";

	snprintf(m->key, sizeof(m->key), "o-%" PRIu64 "-%" PRIu64, g->seed, n);
	snprintf(m->val, sizeof(m->val),
	         "{\"order_id\":\"%s\",\"product_id\":\"p-%0*d\","
	         "\"customer_id\":\"c-%05" PRIu64 "\",\"amount\":%.2f,"
	         "\"status\":\"%s\",\"ts\":%" PRId64 "}",
	         m->key, g->pwidth, product, customer, amount, status,
	         now_ms - (late ? late_delay : delay));
}

/* ---- catalog ---------------------------------------------------------------
 */

static void
cli_gen_catalog_init(cli_gen_src *g)
{
	g->price = wr_xcalloc((size_t)g->nproducts, sizeof(double));
	for (int i = 0; i < g->nproducts; i++)
		g->price[i] =
		    cli_gen_cents(exp(3.0 + 1.2 * cli_gen_normal(g)) + 1.0);
}

/* Events 0 .. products - 1: every product once; then a random product's
 * price moves by up to 10% (95%), or it is deleted (5%: a tombstone); an
 * update of a deleted product brings it back. */
static void
cli_gen_catalog(cli_gen_src *g, uint64_t n, int64_t now_ms, cli_gen_msg *m)
{
	int p = n < (uint64_t)g->nproducts
	            ? (int)n
	            : (int)cli_gen_below(g, (uint64_t)g->nproducts);

	snprintf(m->key, sizeof(m->key), "p-%0*d", g->pwidth, p);
	m->tombstone = false;
	m->ts = now_ms;
	if (n >= (uint64_t)g->nproducts && g->price[p] > 0 &&
	    cli_gen_unit(g) < 0.05) {
		g->price[p] = -g->price[p];
		m->tombstone = true;
		g->planted[0]++;
		return;
	}
	if (g->price[p] < 0)
		g->price[p] = -g->price[p];
	else if (n >= (uint64_t)g->nproducts)
		g->price[p] =
		    cli_gen_cents(g->price[p] * (0.9 + 0.2 * cli_gen_unit(g)));
	g->price[p] = g->price[p] < 0.01 ? 0.01 : g->price[p];
	snprintf(m->val, sizeof(m->val),
	         "{\"product_id\":\"%s\",\"category\":\"%s\",\"price\":%.2f,"
	         "\"ts\":%" PRId64 "}",
	         m->key, cli_gen_categories[(unsigned)p * 2654435761u % 8u],
	         g->price[p], now_ms);
}

/* ---- actors ----------------------------------------------------------------
 */

static bool
cli_gen_before(const cli_gen_src *g, int a, int b)
{
	int64_t ta = g->actors[a].next_ts, tb = g->actors[b].next_ts;
	return ta < tb || (ta == tb && a < b);
}

/* Restores the heap after the top's time moved later. */
static void
cli_gen_sift_down(cli_gen_src *g, int i)
{
	int n = g->nactors;
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && cli_gen_before(g, g->heap[l], g->heap[m]))
			m = l;
		if (r < n && cli_gen_before(g, g->heap[r], g->heap[m]))
			m = r;
		if (m == i)
			return;
		int t = g->heap[i];
		g->heap[i] = g->heap[m];
		g->heap[m] = t;
		i = m;
	}
}

/* Actors start at random times within their first gap. */
static void
cli_gen_actors_init(cli_gen_src *g, int n, int64_t start, int64_t first_gap)
{
	g->nactors = n;
	g->actors = wr_xcalloc((size_t)n, sizeof(*g->actors));
	g->heap = wr_xcalloc((size_t)n, sizeof(int));
	for (int i = 0; i < n; i++) {
		g->actors[i].next_ts = start + cli_gen_between(g, 0, first_gap);
		g->heap[i] = i;
	}
	for (int i = n / 2; i-- > 0;)
		cli_gen_sift_down(g, i);
}

/* ---- clicks ----------------------------------------------------------------
 */

static void
cli_gen_click(cli_gen_src *g, int u, cli_gen_actor *a, cli_gen_msg *m)
{
	int total = 0, w;
	char page[48];

	if (a->left == 0) { /* a new session: 1 + geometric(mean 5) */
		a->left = 1;
		while (a->left < CLI_GEN_SESSION_CLICKS &&
		       cli_gen_unit(g) < 5.0 / 6.0)
			a->left++;
		g->planted[0]++;
	}
	for (size_t i = 0; i < sizeof(cli_gen_pages) / sizeof(*cli_gen_pages);
	     i++)
		total += cli_gen_pages[i].weight;
	w = (int)cli_gen_below(g, (uint64_t)total);
	size_t i = 0;
	while (w >= cli_gen_pages[i].weight)
		w -= cli_gen_pages[i++].weight;
	if (strcmp(cli_gen_pages[i].page, "/product/") == 0)
		snprintf(page, sizeof(page), "/product/p-%0*d", g->pwidth,
		         (int)cli_gen_below(g, (uint64_t)g->nproducts));
	else
		snprintf(page, sizeof(page), "%s", cli_gen_pages[i].page);
	snprintf(m->key, sizeof(m->key), "u-%05d", u);
	snprintf(m->val, sizeof(m->val),
	         "{\"user_id\":\"%s\",\"page\":\"%s\",\"ts\":%" PRId64 "}",
	         m->key, page, a->next_ts);
	a->left--;
	a->next_ts += a->left > 0 ? cli_gen_between(g, CLI_GEN_CLICK_GAP_MS)
	                          : cli_gen_between(g, CLI_GEN_IDLE_GAP_MS);
}

/* ---- payments --------------------------------------------------------------
 */

/* A normal amount: the customer's level x log-normal, within 0.2 .. 3 x
 * (so only a planted purchase is ever 10 x the customer's average). */
static double
cli_gen_pay_amount(cli_gen_src *g, const cli_gen_actor *a)
{
	double f = exp(0.4 * cli_gen_normal(g));
	f = f < 0.2 ? 0.2 : f > 3.0 ? 3.0 : f;
	return cli_gen_cents(a->level * f);
}

/* Picks what a card does next: a planted shape (1% each; a burst never
 * right after a decline) or a normal event (a second decline in a row
 * never happens outside a burst). */
static void
cli_gen_pay_pick(cli_gen_src *g, cli_gen_actor *a, const char **kind,
                 bool *declined, double *amount)
{
	double u = cli_gen_unit(g);

	*kind = "purchase";
	*declined = false;
	*amount = cli_gen_pay_amount(g, a);
	if (u < 0.01) { /* after a decline: a plain purchase instead */
		a->script = a->declined ? 0 : 1;
		a->left = a->declined ? 0 : 4;
	} else if (u < 0.02) {
		a->script = 2;
		a->left = 2;
	} else if (u < 0.07) {
		*kind = "login";
		*amount = 0;
	} else if (u < 0.08) {
		*kind = "password_change";
		*amount = 0;
	} else if (u < 0.11 && !a->declined) {
		*declined = true;
	}
}

static void
cli_gen_payment(cli_gen_src *g, int c, cli_gen_actor *a, cli_gen_msg *m)
{
	const char *kind = "purchase";
	bool declined = false;
	double amount = 0;

	if (a->script == 0)
		cli_gen_pay_pick(g, a, &kind, &declined, &amount);
	if (a->script == 1) { /* D, D, D, then A */
		kind = "purchase";
		declined = a->left > 1;
		amount = cli_gen_pay_amount(g, a);
	} else if (a->script == 2) { /* password change, then 15-25 x */
		kind = a->left == 2 ? "password_change" : "purchase";
		declined = false;
		amount = a->left == 2
		             ? 0
		             : cli_gen_cents(a->level *
		                             (15.0 + 10.0 * cli_gen_unit(g)));
	}
	snprintf(m->key, sizeof(m->key), "card-%05d", c);
	snprintf(m->val, sizeof(m->val),
	         "{\"card_id\":\"%s\",\"customer_id\":\"c-%05d\","
	         "\"kind\":\"%s\",\"status\":\"%s\",\"amount\":%.2f,"
	         "\"ts\":%" PRId64 "}",
	         m->key, c, kind, declined ? "DECLINED" : "APPROVED", amount,
	         a->next_ts);
	a->declined = declined;
	if (a->script != 0 && --a->left == 0) {
		g->planted[a->script - 1]++;
		a->script = 0;
	}
	a->next_ts += a->script == 1 ? cli_gen_between(g, CLI_GEN_BURST_GAP_MS)
	              : a->script == 2
	                  ? cli_gen_between(g, CLI_GEN_TAKEOVER_GAP_MS)
	                  : cli_gen_between(g, CLI_GEN_PAY_GAP_MS);
}

/* ---- readings --------------------------------------------------------------
 */

static void
cli_gen_reading(cli_gen_src *g, int s, cli_gen_actor *a, cli_gen_msg *m)
{
	double noise = 0.3 * cli_gen_normal(g);
	double t =
	    a->level +
	    2.0 * sin(2.0 * M_PI * (double)a->next_ts / CLI_GEN_SWING_MS + s) +
	    (noise < -1.2  ? -1.2
	     : noise > 1.2 ? 1.2
	                   : noise);

	if (cli_gen_unit(g) < 0.005) {
		t += (cli_gen_unit(g) < 0.5 ? -1 : 1) *
		     (8.0 + 7.0 * cli_gen_unit(g));
		g->planted[0]++;
	}
	snprintf(m->key, sizeof(m->key), "s-%03d", s);
	snprintf(m->val, sizeof(m->val),
	         "{\"sensor_id\":\"%s\",\"temperature\":%.2f,\"ts\":%" PRId64
	         "}",
	         m->key, t, a->next_ts);
	a->next_ts += cli_gen_between(g, CLI_GEN_READ_GAP_MS);
}

/* ---- the table's entry points ----------------------------------------------
 */

const cli_gen_kind *
cli_gen_kind_find(const char *name)
{
	for (const cli_gen_kind *k = cli_gen_kinds; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

const char *
cli_gen_kind_names(void)
{
	return "orders, clicks, payments, catalog, readings";
}

cli_gen_src *
cli_gen_src_new(const cli_gen_kind *k, const cli_gen_params *p)
{
	cli_gen_src *g = wr_xcalloc(1, sizeof(*g));
	int id = (int)(k - cli_gen_kinds);
	int n = (int)(p->keys > 0 ? p->keys : k->default_keys);

	g->kind = k;
	g->seed = p->seed;
	g->late_fraction = p->late_fraction;
	g->nproducts = (int)p->products;
	g->pwidth = snprintf(NULL, 0, "%d", g->nproducts - 1);
	g->pwidth = g->pwidth < 3 ? 3 : g->pwidth;
	cli_gen_rng_seed(&g->rng, p->seed);
	if (id == CLI_GEN_ORDERS)
		cli_gen_orders_init(g);
	else if (id == CLI_GEN_CATALOG)
		cli_gen_catalog_init(g);
	if (k->keys_what == NULL)
		return g;
	/* A run of --count events ends about now. */
	int64_t span = p->count * k->mean_gap_ms / n;
	cli_gen_actors_init(g, n, p->start_ms - span, k->mean_gap_ms);
	for (int i = 0; i < n; i++)
		g->actors[i].level =
		    id == CLI_GEN_PAYMENTS
		        ? cli_gen_cents(20.0 + 180.0 * cli_gen_unit(g))
		        : 15.0 + 15.0 * cli_gen_unit(g);
	return g;
}

void
cli_gen_src_next(cli_gen_src *g, uint64_t n, int64_t now_ms, cli_gen_msg *m)
{
	int id = (int)(g->kind - cli_gen_kinds);

	m->tombstone = false;
	m->ts = 0;
	if (id == CLI_GEN_ORDERS) {
		cli_gen_order(g, n, now_ms, m);
		return;
	}
	if (id == CLI_GEN_CATALOG) {
		cli_gen_catalog(g, n, now_ms, m);
		return;
	}
	int i = g->heap[0];
	cli_gen_actor *a = &g->actors[i];
	if (id == CLI_GEN_CLICKS)
		cli_gen_click(g, i, a, m);
	else if (id == CLI_GEN_PAYMENTS)
		cli_gen_payment(g, i, a, m);
	else
		cli_gen_reading(g, i, a, m);
	cli_gen_sift_down(g, 0);
}

void
cli_gen_src_planted(const cli_gen_src *g,
                    uint64_t counts[CLI_GEN_PLANTED_KINDS])
{
	memcpy(counts, g->planted, sizeof(g->planted));
}

void
cli_gen_src_free(cli_gen_src *g)
{
	if (g == NULL)
		return;
	free(g->cdf);
	free(g->product_of);
	free(g->price);
	free(g->actors);
	free(g->heap);
	free(g);
}
