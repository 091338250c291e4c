/*
 * nexmark_gen.c - Nexmark's persons, auctions and bids, after the Beam and
 * Flink generators (NexmarkUtils, PersonGenerator, AuctionGenerator,
 * BidGenerator) with their default configuration: 1000 active people, 100
 * auctions in flight, hot ratios 4 (sellers), 2 (auctions), 4 (bidders),
 * 5 categories. The random numbers come from splitmix64 seeded by the
 * event id instead of java.util.Random, so values differ from Java's
 * while the distributions are the same.
 */
#include "nexmark_gen.h"
#include "source_gen.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TM_NEX_ACTIVE_PEOPLE      1000
#define TM_NEX_IN_FLIGHT_AUCTIONS 100
#define TM_NEX_PERSON_ID_LEAD     10
#define TM_NEX_AUCTION_ID_LEAD    10
#define TM_NEX_HOT_SELLER_RATIO   100
#define TM_NEX_HOT_AUCTION_RATIO  100
#define TM_NEX_HOT_BIDDER_RATIO   100
#define TM_NEX_HOT_SELLERS_RATIO  4
#define TM_NEX_HOT_AUCTIONS_RATIO 2
#define TM_NEX_HOT_BIDDERS_RATIO  4
#define TM_NEX_CATEGORIES         5
#define TM_NEX_CHANNELS           10000
#define TM_NEX_AVG_PERSON_BYTES   200
#define TM_NEX_AVG_AUCTION_BYTES  500
#define TM_NEX_AVG_BID_BYTES      100

static const char *const tm_nex_first[] = {"Peter", "Paul",   "Luke",  "John",
                                           "Saul",  "Vicky",  "Kate",  "Julie",
                                           "Sarah", "Deiter", "Walter"};
static const char *const tm_nex_last[] = {"Shultz", "Abrams",  "Spencer",
                                          "White",  "Bartels", "Walton",
                                          "Smith",  "Jones",   "Noris"};
static const char *const tm_nex_cities[] = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
static const char *const tm_nex_states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const tm_nex_hot_channels[] = {"Google", "Facebook", "Baidu",
                                                  "Apple"};
static const char *const tm_nex_hot_urls[] = {
    "https://www.nexmark.com/googl/item.htm?query=1&channel_id=0",
    "https://www.nexmark.com/faceb/item.htm?query=1&channel_id=1",
    "https://www.nexmark.com/baidu/item.htm?query=1&channel_id=2",
    "https://www.nexmark.com/apple/item.htm?query=1&channel_id=3"};

#define TM_NEX_COUNT(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* Uniform in [0, n); n > 0. The modulo bias is below 2^-40 here. */
static int64_t
tm_nex_below(uint64_t *s, int64_t n)
{
	return (int64_t)(tm_gen_splitmix64(s) % (uint64_t)n);
}

static double
tm_nex_unit(uint64_t *s)
{
	return (double)(tm_gen_splitmix64(s) >> 11) * 0x1.0p-53;
}

enum tm_nex_kind
tm_nex_kind_of(int64_t id)
{
	int64_t rem = id % TM_NEX_TOTAL_PROPORTION;
	if (rem < TM_NEX_PERSON_PROPORTION)
		return TM_NEX_PERSON;
	if (rem < TM_NEX_PERSON_PROPORTION + TM_NEX_AUCTION_PROPORTION)
		return TM_NEX_AUCTION;
	return TM_NEX_BID;
}

/* The 0-based id of the last person created by event id. */
static int64_t
tm_nex_last_person(int64_t id)
{
	int64_t epoch = id / TM_NEX_TOTAL_PROPORTION;
	int64_t off = id % TM_NEX_TOTAL_PROPORTION;
	if (off >= TM_NEX_PERSON_PROPORTION)
		off = TM_NEX_PERSON_PROPORTION - 1;
	return epoch * TM_NEX_PERSON_PROPORTION + off;
}

/* The 0-based id of the last auction created by event id. */
static int64_t
tm_nex_last_auction(int64_t id)
{
	int64_t epoch = id / TM_NEX_TOTAL_PROPORTION;
	int64_t off = id % TM_NEX_TOTAL_PROPORTION;
	if (off < TM_NEX_PERSON_PROPORTION) {
		epoch--;
		off = TM_NEX_AUCTION_PROPORTION - 1;
	} else if (off >= TM_NEX_PERSON_PROPORTION + TM_NEX_AUCTION_PROPORTION)
		off = TM_NEX_AUCTION_PROPORTION - 1;
	else
		off -= TM_NEX_PERSON_PROPORTION;
	return epoch * TM_NEX_AUCTION_PROPORTION + off;
}

/* A recent person, or one a little ahead (as Nexmark does). */
static int64_t
tm_nex_some_person(int64_t id, uint64_t *s)
{
	int64_t people = tm_nex_last_person(id) + 1;
	int64_t active =
	    people < TM_NEX_ACTIVE_PEOPLE ? people : TM_NEX_ACTIVE_PEOPLE;
	return people - active +
	       tm_nex_below(s, active + TM_NEX_PERSON_ID_LEAD);
}

static int64_t
tm_nex_some_auction(int64_t id, uint64_t *s)
{
	int64_t hi = tm_nex_last_auction(id);
	int64_t lo = hi - TM_NEX_IN_FLIGHT_AUCTIONS;
	if (lo < 0)
		lo = 0;
	return lo + tm_nex_below(s, hi - lo + 1 + TM_NEX_AUCTION_ID_LEAD);
}

static int64_t
tm_nex_price(uint64_t *s)
{
	return llround(pow(10.0, tm_nex_unit(s) * 6.0) * 100.0);
}

/* Nexmark's nextString: 3 .. max-1 letters, now and then a space. */
static void
tm_nex_string(uint64_t *s, char *out, int max)
{
	int len = 3 + (int)tm_nex_below(s, max - 3);
	for (int i = 0; i < len; i++) {
		uint64_t r = tm_gen_splitmix64(s);
		out[i] = r % 13 == 0 ? ' ' : (char)('a' + (r >> 8) % 26);
	}
	out[len] = '\0';
}

/* Nexmark's nextExtra: pads an event of `size` bytes to about avg. */
static void
tm_nex_extra(uint64_t *s, int size, int avg, tm_nex_event *ev)
{
	int want = 0;
	if (size < avg) {
		int rest = avg - size;
		int delta = (int)lround(rest * 0.2);
		want = rest - delta +
		       (delta == 0 ? 0 : (int)tm_nex_below(s, 2 * delta));
	}
	if (want > TM_NEX_EXTRA_MAX)
		want = TM_NEX_EXTRA_MAX;
	for (int i = 0; i < want; i++) {
		uint64_t r = tm_gen_splitmix64(s);
		ev->extra[i] = r % 13 == 0 ? ' ' : (char)('a' + (r >> 8) % 26);
	}
	ev->extra[want] = '\0';
	ev->extra_len = (uint32_t)want;
}

static void
tm_nex_person(int64_t id, uint64_t *s, tm_nex_event *ev)
{
	ev->person_id = tm_nex_last_person(id) + TM_NEX_FIRST_PERSON_ID;
	snprintf(ev->name, sizeof(ev->name), "%s %s",
	         tm_nex_first[tm_nex_below(s, TM_NEX_COUNT(tm_nex_first))],
	         tm_nex_last[tm_nex_below(s, TM_NEX_COUNT(tm_nex_last))]);
	char a[8], b[8];
	tm_nex_string(s, a, 7);
	tm_nex_string(s, b, 5);
	snprintf(ev->email, sizeof(ev->email), "%s@%s.com", a, b);
	snprintf(ev->credit_card, sizeof(ev->credit_card),
	         "%04d %04d %04d %04d", (int)tm_nex_below(s, 10000),
	         (int)tm_nex_below(s, 10000), (int)tm_nex_below(s, 10000),
	         (int)tm_nex_below(s, 10000));
	ev->city = tm_nex_cities[tm_nex_below(s, TM_NEX_COUNT(tm_nex_cities))];
	ev->state = tm_nex_states[tm_nex_below(s, TM_NEX_COUNT(tm_nex_states))];
	int size = 8 +
	           (int)(strlen(ev->name) + strlen(ev->email) +
	                 strlen(ev->credit_card) + strlen(ev->city) +
	                 strlen(ev->state)) +
	           8;
	tm_nex_extra(s, size, TM_NEX_AVG_PERSON_BYTES, ev);
}

static void
tm_nex_auction(int64_t id, int64_t step_us, uint64_t *s, tm_nex_event *ev)
{
	int64_t seller;
	ev->auction_id = tm_nex_last_auction(id) + TM_NEX_FIRST_AUCTION_ID;
	if (tm_nex_below(s, TM_NEX_HOT_SELLERS_RATIO) > 0)
		seller = tm_nex_last_person(id) / TM_NEX_HOT_SELLER_RATIO *
		         TM_NEX_HOT_SELLER_RATIO;
	else
		seller = tm_nex_some_person(id, s);
	ev->seller = seller + TM_NEX_FIRST_PERSON_ID;
	ev->category =
	    TM_NEX_FIRST_CATEGORY_ID + tm_nex_below(s, TM_NEX_CATEGORIES);
	ev->initial_bid = tm_nex_price(s);
	/* Nexmark's nextAuctionLengthMs: up to twice the time it takes
	 * to create the auctions in flight. */
	int64_t horizon = TM_NEX_IN_FLIGHT_AUCTIONS * TM_NEX_TOTAL_PROPORTION /
	                  TM_NEX_AUCTION_PROPORTION * step_us / 1000;
	ev->expires_ms =
	    ev->ts_ms + 1 + tm_nex_below(s, horizon * 2 > 1 ? horizon * 2 : 1);
	tm_nex_string(s, ev->item_name, 20);
	tm_nex_string(s, ev->description, 100);
	ev->reserve = ev->initial_bid + tm_nex_price(s);
	int size = 8 + (int)(strlen(ev->item_name) + strlen(ev->description)) +
	           8 + 8 + 8 + 8 + 8 + 8;
	tm_nex_extra(s, size, TM_NEX_AVG_AUCTION_BYTES, ev);
}

static void
tm_nex_bid(int64_t id, uint64_t *s, tm_nex_event *ev)
{
	int64_t auction, bidder;
	if (tm_nex_below(s, TM_NEX_HOT_AUCTIONS_RATIO) > 0)
		auction = tm_nex_last_auction(id) / TM_NEX_HOT_AUCTION_RATIO *
		          TM_NEX_HOT_AUCTION_RATIO;
	else
		auction = tm_nex_some_auction(id, s);
	ev->auction_id = auction + TM_NEX_FIRST_AUCTION_ID;
	if (tm_nex_below(s, TM_NEX_HOT_BIDDERS_RATIO) > 0)
		bidder = tm_nex_last_person(id) / TM_NEX_HOT_BIDDER_RATIO *
		             TM_NEX_HOT_BIDDER_RATIO +
		         1;
	else
		bidder = tm_nex_some_person(id, s);
	ev->bidder = bidder + TM_NEX_FIRST_PERSON_ID;
	ev->price = tm_nex_price(s);
	if (tm_nex_below(s, 2) > 0) {
		int64_t i = tm_nex_below(s, TM_NEX_COUNT(tm_nex_hot_channels));
		ev->channel_p = tm_nex_hot_channels[i];
		ev->url_p = tm_nex_hot_urls[i];
	} else {
		char a[8], b[8], c[8];
		snprintf(ev->channel, sizeof(ev->channel), "channel-%d",
		         (int)tm_nex_below(s, TM_NEX_CHANNELS));
		tm_nex_string(s, a, 5);
		tm_nex_string(s, b, 5);
		tm_nex_string(s, c, 5);
		snprintf(ev->url, sizeof(ev->url),
		         "https://www.nexmark.com/%s/%s/%s/item.htm?query=1", a,
		         b, c);
		ev->channel_p = ev->channel;
		ev->url_p = ev->url;
	}
	tm_nex_extra(s, 8 + 8 + 8 + 8, TM_NEX_AVG_BID_BYTES, ev);
}

int64_t
tm_nex_time_ms(int64_t n, int64_t rate)
{
	return TM_NEX_BASE_TIME_MS + (rate > 0 ? n * 1000 / rate : n);
}

void
tm_nex_event_gen(int64_t id, int64_t ts_ms, int64_t step_us, tm_nex_event *ev)
{
	uint64_t s =
	    0x6e65786d61726bull ^ ((uint64_t)id * 0xd1342543de82ef95ull);
	ev->kind = tm_nex_kind_of(id);
	ev->ts_ms = ts_ms;
	switch (ev->kind) {
	case TM_NEX_PERSON:
		tm_nex_person(id, &s, ev);
		break;
	case TM_NEX_AUCTION:
		tm_nex_auction(id, step_us, &s, ev);
		break;
	case TM_NEX_BID:
		tm_nex_bid(id, &s, ev);
		break;
	}
}
