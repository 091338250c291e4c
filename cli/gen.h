/*
 * gen.h - the event generators of `weir gen` (gen_data.c): orders, clicks,
 * payments, catalog, readings. gen.c writes what they make into Kafka.
 *
 * A generator is a row of a table (cli_gen_kinds): its name, what its
 * events are called, which flags apply, and how an event is made. Orders
 * and catalog updates take their time from the caller's clock; clicks,
 * payments and readings follow simulated actors (users, cards, sensors)
 * on a clock of their own, in event-time order. Everything but the
 * wall-clock base of `ts` follows from the seed.
 */
#ifndef CLI_GEN_H
#define CLI_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest event (JSON) and key a generator writes. */
#define CLI_GEN_EVENT_BYTES 256
#define CLI_GEN_KEY_BYTES   64
/* Most kinds of planted pattern one generator counts. */
#define CLI_GEN_PLANTED_KINDS 2

/* One message: key and value; a tombstone has no value (null). */
typedef struct cli_gen_msg {
	char key[CLI_GEN_KEY_BYTES];
	char val[CLI_GEN_EVENT_BYTES];
	bool tombstone;
	/* the Kafka timestamp (ms), 0 = the clock: a catalog update's is its
	 * event time, which a tombstone has nowhere else (docs/joins.md) */
	int64_t ts;
} cli_gen_msg;

/* What the flags say to a generator. */
typedef struct cli_gen_params {
	uint64_t seed;
	int64_t products; /* orders, catalog */
	int64_t keys;     /* users, cards, sensors; 0: the kind's default */
	double late_fraction;
	int64_t count;    /* events to make; 0: no end */
	int64_t start_ms; /* the wall clock when gen starts */
} cli_gen_params;

typedef struct cli_gen_src cli_gen_src;

typedef struct cli_gen_kind {
	const char *name; /* "payments" */
	const char *noun; /* what reports call its events */
	/* what --keys counts ("users"), NULL when it does not apply; the
	 * default number */
	const char *keys_what;
	int64_t default_keys;
	bool products; /* --products applies */
	bool clock;    /* ts from the caller's clock (--time-step) */
	bool late;     /* --late-fraction applies */
	int64_t
	    mean_gap_ms; /* simulated: mean time between an actor's events */
	/* names of the planted patterns it counts (NULL-terminated) */
	const char *planted[CLI_GEN_PLANTED_KINDS + 1];
} cli_gen_kind;

extern const cli_gen_kind cli_gen_kinds[];

/* The kind named name, or NULL. */
const cli_gen_kind *cli_gen_kind_find(const char *name);
/* "orders, clicks, ..." for messages. */
const char *cli_gen_kind_names(void);

cli_gen_src *cli_gen_src_new(const cli_gen_kind *k, const cli_gen_params *p);
/* Event n (0, 1, ...); now_ms is the caller's clock (kinds with clock). */
void cli_gen_src_next(cli_gen_src *g, uint64_t n, int64_t now_ms,
                      cli_gen_msg *m);
/* How many of each of the kind's planted patterns were completed. */
void cli_gen_src_planted(const cli_gen_src *g,
                         uint64_t counts[CLI_GEN_PLANTED_KINDS]);
void cli_gen_src_free(cli_gen_src *g);

#endif
