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

/* Uniform in [0, n); 0 < n < 2^32 (every n here is below 2^22): the high
 * half of a 32x32-bit product (Lemire's reduction) instead of a 64-bit
 * division, ~40 cycles less a draw; the bias is below n / 2^32. */
static int64_t
tm_nex_below(uint64_t *s, int64_t n)
{
	return (int64_t)(((tm_gen_splitmix64(s) >> 32) * (uint64_t)n) >> 32);
}

/* Byte -> character of Nexmark's random text: a space for 22 of the 256
 * values (about one in 12, Nexmark: one in 13), each letter for 9. */
static const char tm_nex_text[257] =
    "                      aaaaaaaaabbbbbbbbbcccccccccdddddddddeeeeee"
    "eeefffffffffggggggggghhhhhhhhhiiiiiiiiijjjjjjjjjkkkkkkkkklllllll"
    "llmmmmmmmmmnnnnnnnnnooooooooopppppppppqqqqqqqqqrrrrrrrrrssssssss"
    "stttttttttuuuuuuuuuvvvvvvvvvwwwwwwwwwxxxxxxxxxyyyyyyyyyzzzzzzzzz";

/* Nexmark's random text: lowercase letters, now and then a space, eight
 * characters from one draw. */
static void
tm_nex_letters(uint64_t *s, char *out, int len)
{
	int i = 0;
	/* Unrolled by hand: -O2 keeps the loop, at twice the
	 * instructions. */
	for (; i + 8 <= len; i += 8) {
		uint64_t r = tm_gen_splitmix64(s);
		char *o = out + i;
		o[0] = tm_nex_text[r & 0xff];
		o[1] = tm_nex_text[(r >> 8) & 0xff];
		o[2] = tm_nex_text[(r >> 16) & 0xff];
		o[3] = tm_nex_text[(r >> 24) & 0xff];
		o[4] = tm_nex_text[(r >> 32) & 0xff];
		o[5] = tm_nex_text[(r >> 40) & 0xff];
		o[6] = tm_nex_text[(r >> 48) & 0xff];
		o[7] = tm_nex_text[r >> 56];
	}
	if (i < len) {
		uint64_t r = tm_gen_splitmix64(s);
		for (; i < len; i++, r >>= 8)
			out[i] = tm_nex_text[r & 0xff];
	}
	out[len] = '\0';
}

/* Appends the n bytes at p to *out and advances it. */
static void
tm_nex_put(char **out, const char *p, size_t n)
{
	memcpy(*out, p, n);
	*out += n;
}

/* Appends v (0 <= v < 10^width) in width digits, zero-padded. */
static void
tm_nex_digits(char **out, int v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		(*out)[i] = (char)('0' + v % 10);
	*out += width;
}

/* Appends v >= 0 in decimal without padding. */
static void
tm_nex_decimal(char **out, int v)
{
	int w = 1;
	for (int t = v; t >= 10; t /= 10)
		w++;
	tm_nex_digits(out, v, w);
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

/* round(10^(u*6) * 100) cents; 10^x as 2^(x * log2(10)), a third of
 * pow's instructions. */
static int64_t
tm_nex_price(uint64_t *s)
{
	return (int64_t)(exp2(tm_nex_unit(s) * 6.0 * 3.321928094887362) *
	                     100.0 +
	                 0.5);
}

/* Nexmark's nextString: 3 .. max-1 letters, now and then a space; its
 * length. */
static int
tm_nex_string(uint64_t *s, char *out, int max)
{
	int len = 3 + (int)tm_nex_below(s, max - 3);
	tm_nex_letters(s, out, len);
	return len;
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
	tm_nex_letters(s, ev->extra, want);
	ev->extra_len = (uint32_t)want;
}

/* A table's string and its length. */
static void
tm_nex_pick(uint64_t *s, const char *const *tab, int64_t n, const char **p,
            uint32_t *len)
{
	*p = tab[tm_nex_below(s, n)];
	*len = (uint32_t)strlen(*p);
}

static void
tm_nex_person(int64_t id, uint64_t *s, tm_nex_event *ev)
{
	const char *first, *last;
	uint32_t fl, ll;
	char *o;
	ev->person_id = tm_nex_last_person(id) + TM_NEX_FIRST_PERSON_ID;
	tm_nex_pick(s, tm_nex_first, TM_NEX_COUNT(tm_nex_first), &first, &fl);
	tm_nex_pick(s, tm_nex_last, TM_NEX_COUNT(tm_nex_last), &last, &ll);
	o = ev->name;
	tm_nex_put(&o, first, fl);
	tm_nex_put(&o, " ", 1);
	tm_nex_put(&o, last, ll);
	*o = '\0';
	ev->name_len = (uint32_t)(o - ev->name);
	/* "<3..6 letters>@<3..4 letters>.com" */
	o = ev->email;
	o += tm_nex_string(s, o, 7);
	*o++ = '@';
	o += tm_nex_string(s, o, 5);
	tm_nex_put(&o, ".com", 5);
	ev->email_len = (uint32_t)(o - 1 - ev->email);
	o = ev->credit_card;
	for (int i = 0; i < 4; i++) {
		if (i > 0)
			*o++ = ' ';
		tm_nex_digits(&o, (int)tm_nex_below(s, 10000), 4);
	}
	*o = '\0';
	ev->credit_card_len = (uint32_t)(o - ev->credit_card);
	tm_nex_pick(s, tm_nex_cities, TM_NEX_COUNT(tm_nex_cities), &ev->city,
	            &ev->city_len);
	tm_nex_pick(s, tm_nex_states, TM_NEX_COUNT(tm_nex_states), &ev->state,
	            &ev->state_len);
	int size = 8 +
	           (int)(ev->name_len + ev->email_len + ev->credit_card_len +
	                 ev->city_len + ev->state_len) +
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
	ev->item_name_len = (uint32_t)tm_nex_string(s, ev->item_name, 20);
	ev->description_len = (uint32_t)tm_nex_string(s, ev->description, 100);
	ev->reserve = ev->initial_bid + tm_nex_price(s);
	int size = 8 + (int)(ev->item_name_len + ev->description_len) + 8 + 8 +
	           8 + 8 + 8 + 8;
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
		ev->channel_len = (uint32_t)strlen(ev->channel_p);
		ev->url_len = (uint32_t)strlen(ev->url_p);
	} else {
		char *o = ev->channel;
		tm_nex_put(&o, "channel-", 8);
		tm_nex_decimal(&o, (int)tm_nex_below(s, TM_NEX_CHANNELS));
		*o = '\0';
		ev->channel_len = (uint32_t)(o - ev->channel);
		/* "https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1",
		 * a, b, c of 3..4 letters */
		static const char head[] = "https://www.nexmark.com/";
		static const char tail[] = "item.htm?query=1";
		o = ev->url;
		tm_nex_put(&o, head, sizeof(head) - 1);
		for (int k = 0; k < 3; k++) {
			o += tm_nex_string(s, o, 5);
			*o++ = '/';
		}
		tm_nex_put(&o, tail, sizeof(tail));
		ev->url_len = (uint32_t)(o - 1 - ev->url);
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
