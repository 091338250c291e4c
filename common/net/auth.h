/*
 * auth.h - the cluster token (security.token_file): loading it, comparing
 * it in constant time, and the refusals' one log line per peer and their
 * counter.
 *
 * A process has one token, set once at start-up (wr_auth_set_token)
 * before it opens any listener or client: every RPC server, RPC client,
 * HTTP server and shuffle endpoint created afterwards copies it, so no
 * listener can start unprotected and no handler has to remember to check.
 * Tests give single objects another token (wr_rpc_client_set_token, ...).
 */
#ifndef WR_AUTH_H
#define WR_AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

struct wr_metrics;

/*
 * Reads the token from path into out (NUL-terminated; surrounding blanks
 * and newlines trimmed: `echo secret > token` works). A missing,
 * unreadable, empty or over-long file is an error whose message, in
 * errbuf, names the file. Errors: WR_ENOENT, WR_EINVAL, WR_ESYSERR|errno.
 */
int wr_auth_load(const char *path, char out[WR_AUTH_TOKEN_MAX_BYTES + 1],
                 char *errbuf, size_t errlen);

/* Sets this process's token ("" = none). Call before any listener or
 * client is created (it is not synchronised with them). */
void wr_auth_set_token(const char *token);

/* This process's token, "" when none. */
const char *wr_auth_token(void);

/*
 * True when got (len bytes, may be NULL with 0) equals want (a string).
 * Runs in time that depends only on the lengths, never on where the
 * first difference is. want "" accepts anything (no token configured).
 */
bool wr_auth_check(const char *want, const void *got, size_t len);

/* Constant-time equality of two byte strings of the same length. */
bool wr_auth_equal(const void *a, const void *b, size_t len);

/* Who refused a request: the label of weir_auth_failures_total. */
typedef enum wr_auth_listener {
	WR_AUTH_RPC,  /* a daemon's (or weir local's) RPC server */
	WR_AUTH_HTTP, /* REST, /metrics */
	WR_AUTH_DATA, /* the TaskManager's shuffle server */
	WR_AUTH_NLISTENERS,
} wr_auth_listener;

/*
 * Whether a refusal deserves a log line: true the first time a peer is
 * refused (peer: an id that names one connection, nng's pipe id), false
 * for its later frames, so a peer that retries cannot flood the log.
 * Peer 0 (unknown: HTTP, where nng does not say who) logs at most once
 * per WR_AUTH_ANON_LOG_MS. Thread-safe.
 */
typedef struct wr_auth_gate {
	pthread_mutex_t mu;
	uint32_t recent[WR_AUTH_RECENT_PEERS]; /* a ring of refused peers */
	size_t next;
	int64_t anon_last_ms; /* last line for an unknown peer, 0 = none */
} wr_auth_gate;

void wr_auth_gate_init(wr_auth_gate *g);
void wr_auth_gate_fini(wr_auth_gate *g);
bool wr_auth_gate_first(wr_auth_gate *g, uint32_t peer);

/* Counts one refused request (every one, logged or not). Thread-safe. */
void wr_auth_count(wr_auth_listener l);

/* Refusals counted so far by this process on l. */
uint64_t wr_auth_failures(wr_auth_listener l);

/* Publishes the counters in reg as weir_auth_failures_total{listener}
 * (a daemon's registry, once at start). */
void wr_auth_register_metrics(struct wr_metrics *reg);

#endif
