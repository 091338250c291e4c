/*
 * auth.c - the cluster token: loading, the constant-time check, the
 * once-per-peer gate of refusal log lines and the refusal counters.
 *
 * The comparison never returns early: it folds every byte's difference
 * (and the length's) into one accumulator, so its time says nothing about
 * how much of a guess was right. The expected length is public (the file
 * is the operator's), the guessed bytes are not.
 */
#include "auth.h"

#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Written once at start-up, before any thread reads it. */
static char wr_auth_tok[WR_AUTH_TOKEN_MAX_BYTES + 1];

static _Atomic uint64_t wr_auth_fails[WR_AUTH_NLISTENERS];
static _Atomic(wr_metric *) wr_auth_metric[WR_AUTH_NLISTENERS];

static const char *const wr_auth_names[WR_AUTH_NLISTENERS] = {
    [WR_AUTH_RPC] = "rpc",
    [WR_AUTH_HTTP] = "http",
    [WR_AUTH_DATA] = "data",
};

static bool
wr_auth_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
wr_auth_load(const char *path, char out[WR_AUTH_TOKEN_MAX_BYTES + 1],
             char *errbuf, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	out[0] = '\0';
	/* Read a little more than allowed, to tell "too long" apart. */
	int rv = wr_read_file(path, WR_AUTH_TOKEN_MAX_BYTES * 2, &data, &len);
	if (rv == WR_ETOOBIG)
		rv = WR_EINVAL;
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "token file %s: %s", path,
		         rv == WR_ENOENT ? "no such file" : wr_strerror(rv));
		return rv;
	}
	size_t a = 0, b = len;
	while (a < b && wr_auth_blank(data[a]))
		a++;
	while (b > a && wr_auth_blank(data[b - 1]))
		b--;
	if (b == a || b - a > WR_AUTH_TOKEN_MAX_BYTES ||
	    memchr(data + a, '\0', b - a) != NULL) {
		snprintf(errbuf, errlen, "token file %s: %s", path,
		         b == a ? "empty (the token must not be empty)"
		                : "not a token (over 1024 bytes, or binary)");
		free(data);
		return WR_EINVAL;
	}
	memcpy(out, data + a, b - a);
	out[b - a] = '\0';
	free(data);
	return WR_OK;
}

void
wr_auth_set_token(const char *token)
{
	snprintf(wr_auth_tok, sizeof(wr_auth_tok), "%s",
	         token != NULL ? token : "");
}

const char *
wr_auth_token(void)
{
	return wr_auth_tok;
}

bool
wr_auth_equal(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < len; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

bool
wr_auth_check(const char *want, const void *got, size_t len)
{
	size_t wlen = strlen(want);
	if (wlen == 0)
		return true;
	/* Compare against want's own length whatever got's is, so a short
	 * guess takes as long as a right one; a length mismatch fails. */
	const unsigned char *g = got;
	unsigned char d = (unsigned char)(len != wlen);
	for (size_t i = 0; i < wlen; i++) {
		unsigned char c = i < len ? g[i] : 0;
		d |= (unsigned char)(c ^ (unsigned char)want[i]);
	}
	return d == 0;
}

void
wr_auth_gate_init(wr_auth_gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
}

void
wr_auth_gate_fini(wr_auth_gate *g)
{
	pthread_mutex_destroy(&g->mu);
}

bool
wr_auth_gate_first(wr_auth_gate *g, uint32_t peer)
{
	bool first = true;
	pthread_mutex_lock(&g->mu);
	if (peer == 0) {
		int64_t now = wr_mono_ms();
		first = g->anon_last_ms == 0 ||
		        now - g->anon_last_ms >= WR_AUTH_ANON_LOG_MS;
		if (first)
			g->anon_last_ms = now;
		goto unlock;
	}
	for (size_t i = 0; i < WR_AUTH_RECENT_PEERS && first; i++)
		first = g->recent[i] != peer;
	if (first) {
		g->recent[g->next] = peer;
		g->next = (g->next + 1) % WR_AUTH_RECENT_PEERS;
	}
unlock:
	pthread_mutex_unlock(&g->mu);
	return first;
}

void
wr_auth_count(wr_auth_listener l)
{
	atomic_fetch_add(&wr_auth_fails[l], 1);
	wr_metric *m = atomic_load(&wr_auth_metric[l]);
	if (m != NULL)
		wr_metric_inc(m);
}

uint64_t
wr_auth_failures(wr_auth_listener l)
{
	return atomic_load(&wr_auth_fails[l]);
}

void
wr_auth_register_metrics(wr_metrics *reg)
{
	for (int l = 0; l < WR_AUTH_NLISTENERS; l++) {
		const char *labels[] = {"listener", wr_auth_names[l], NULL};
		wr_metric *m = wr_metrics_get(
		    reg, WR_METRIC_COUNTER, "weir_auth_failures_total",
		    "Requests refused for a missing or wrong cluster token.",
		    labels);
		/* Refusals before this call (none in a daemon: it registers
		 * before it listens) would be lost otherwise. */
		double want = (double)atomic_load(&wr_auth_fails[l]);
		if (want > wr_metric_value(m))
			wr_metric_add(m, want - wr_metric_value(m));
		atomic_store(&wr_auth_metric[l], m);
	}
}
