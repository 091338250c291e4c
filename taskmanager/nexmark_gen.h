/*
 * nexmark_gen.h - the Nexmark benchmark's event generator (persons,
 * auctions, bids), pure and deterministic: event i is a function of i and
 * the inter-event step alone. Used by the nexmark source
 * (source_nexmark.c) and by tests/bench/nexmark_baseline.c, which must
 * see the same events. The model and where it departs from the Java
 * generator: docs/benchmarks.md.
 */
#ifndef TM_NEXMARK_GEN_H
#define TM_NEXMARK_GEN_H

#include <stdint.h>

#include "wr_limits.h"

/* Proportions of the three kinds by event number (Nexmark's 1:3:46). */
#define TM_NEX_PERSON_PROPORTION  1
#define TM_NEX_AUCTION_PROPORTION 3
#define TM_NEX_BID_PROPORTION     46
#define TM_NEX_TOTAL_PROPORTION   50
#define TM_NEX_FIRST_PERSON_ID    1000
#define TM_NEX_FIRST_AUCTION_ID   1000
#define TM_NEX_FIRST_CATEGORY_ID  10
/* Event time of the first event: 2015-07-15T00:00:00Z (fixed, so runs
 * repeat). */
#define TM_NEX_BASE_TIME_MS 1436918400000ll

enum tm_nex_kind { TM_NEX_PERSON, TM_NEX_AUCTION, TM_NEX_BID };

/* One event. Strings are NUL-terminated, their lengths beside them; those
 * with a pointer member point at constant tables, the rest live in the
 * arrays. Fields of the other kinds are left as they were. */
typedef struct tm_nex_event {
	enum tm_nex_kind kind;
	int64_t ts_ms;
	/* person */
	int64_t person_id;
	char name[32];
	char email[32];
	char credit_card[24];
	const char *city, *state;
	uint32_t name_len, email_len, credit_card_len, city_len, state_len;
	/* auction (auction_id is also a bid's auction) */
	int64_t auction_id;
	char item_name[24];
	char description[104];
	uint32_t item_name_len, description_len;
	int64_t initial_bid, reserve, expires_ms, seller, category;
	/* bid */
	int64_t bidder, price;
	const char *channel_p; /* a hot channel, or channel[] */
	char channel[24];
	const char *url_p; /* a hot url, or url[] */
	char url[80];
	uint32_t channel_len, url_len;
	/* padding to the usual sizes (200, 500, 100 bytes on average) */
	char extra[TM_NEX_EXTRA_MAX + 1];
	uint32_t extra_len;
} tm_nex_event;

/* Event time of a generator's n-th event at `rate` events per second
 * (0 = one millisecond apart): TM_NEX_BASE_TIME_MS + n * 1000 / rate. */
int64_t tm_nex_time_ms(int64_t n, int64_t rate);

/* Fills ev with event number `id` (0-based) at event time ts_ms, events
 * being step_us apart (auction lengths scale with it). Pure: no state,
 * any thread. */
void tm_nex_event_gen(int64_t id, int64_t ts_ms, int64_t step_us,
                      tm_nex_event *ev);

/* The kind of event `id` (1:3:46 by id mod 50). */
enum tm_nex_kind tm_nex_kind_of(int64_t id);

#endif
