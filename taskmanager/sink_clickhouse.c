/*
 * sink_clickhouse.c - the ClickHouse sink over ClickHouse's HTTP interface
 * (libcurl), at-least-once; effectively-once into a ReplacingMergeTree.
 *
 * Rows are buffered as JSONEachRow (wr_row_to_json, timestamps as epoch
 * milliseconds) and POSTed as "INSERT INTO db.table FORMAT JSONEachRow" in
 * batches bounded by rows, bytes and age.
 *
 * A batch that fails with a connection error, a timeout or a server error
 * that ClickHouse itself calls transient (too many parts, memory limit,
 * ...; see tm_ch_transient) is sent again with exponential backoff, up to
 * TM_CH_RETRY_MS in all. Anything else - an unknown table, a value of the
 * wrong type - fails the task with ClickHouse's message: sending it again
 * cannot help.
 *
 * The barrier of a checkpoint sends the buffered batch and waits for
 * ClickHouse's acknowledgement before the task acknowledges the barrier,
 * so a restart from that checkpoint replays only rows after it. ClickHouse
 * 18.16 has no insert deduplication tokens, so rows written after the
 * checkpoint and before a failure are written again: at-least-once, and
 * effectively-once into a ReplacingMergeTree keyed by the result's key
 * (docs/sinks.md). Everything runs on the task's thread.
 */
#include "op.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "record.h"
#include "wr_limits.h"

#include <curl/curl.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The snapshot: one version byte; the sink keeps nothing across a
 * checkpoint (everything before the barrier is in ClickHouse). */
#define TM_CH_STATE_V1 1

typedef struct tm_ch {
	tm_ctx *ctx;
	const tm_op_conf *conf;
	const wr_node_spec *node;
	const wr_sink_spec *sk;
	const wr_schema *in;
	CURL *curl;
	char *endpoint; /* url/?query=INSERT... (escaped) */
	char password[TM_CH_PASSWORD_BYTES];
	wr_buf batch, resp; /* JSONEachRow lines; the server's answer */
	int64_t nrows, first_ms;
	wr_row row; /* the record with timestamps as longs */
	int failed; /* sticky: the task must fail */
	char err[TM_CH_ERR_BYTES];
} tm_ch;

/* ---- one request ------------------------------------------------------ */

static size_t
tm_ch_on_body(char *p, size_t size, size_t n, void *arg)
{
	wr_buf *b = arg;
	if (b->len < TM_CH_ERR_BYTES) /* only the message is kept */
		wr_buf_append(b, p, size * n);
	return size * n;
}

/* ClickHouse's error codes (ErrorCodes.cpp) that a later retry can cure:
 * timeouts, network, overload, a read-only replica, unknown insert
 * status. */
static bool
tm_ch_transient(int code)
{
	static const int codes[] = {159, 202, 209, 210, 241,
	                            242, 252, 319, 425, 999};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i] == code)
			return true;
	return false;
}

/* The server's answer as one line in s->err; its "Code: N" or -1. */
static int
tm_ch_take_err(tm_ch *s, long status)
{
	int code = -1;
	size_t n = s->resp.len < sizeof(s->err) - 40 ? s->resp.len
	                                             : sizeof(s->err) - 40;
	snprintf(s->err, sizeof(s->err), "HTTP %ld: %.*s", status, (int)n,
	         s->resp.len ? s->resp.data : "");
	for (char *p = s->err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	for (size_t k = strlen(s->err); k > 0 && s->err[k - 1] == ' '; k--)
		s->err[k - 1] = '\0';
	const char *c = strstr(s->err, "Code: ");
	if (c != NULL)
		code = atoi(c + 6);
	return code;
}

/*
 * POSTs the batch once. WR_OK when ClickHouse acknowledged it (200);
 * WR_EUNREACHABLE when a retry may succeed (connection, timeout, 5xx
 * without a code or with a transient one); WR_EINVAL otherwise. s->err
 * says why.
 */
static int
tm_ch_post(tm_ch *s)
{
	char cerr[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURL *c = s->curl;
	wr_buf_reset(&s->resp);
	curl_easy_setopt(c, CURLOPT_URL, s->endpoint);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->batch.data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)s->batch.len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tm_ch_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->resp);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(s->err, sizeof(s->err), "%s",
		         cerr[0] ? cerr : curl_easy_strerror(rc));
		return WR_EUNREACHABLE;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		return WR_OK;
	int code = tm_ch_take_err(s, status);
	if (status >= 500 && (code < 0 || tm_ch_transient(code)))
		return WR_EUNREACHABLE;
	return WR_EINVAL;
}

/* Sleeps ms unless the task is cancelled first (false). */
static bool
tm_ch_backoff(tm_ch *s, int64_t ms)
{
	int64_t until = wr_mono_ms() + ms;
	while (wr_mono_ms() < until) {
		if (tm_cancelled(s->ctx)) /* an orphan is cancelled too */
			return false;
		wr_sleep_ms(until - wr_mono_ms() < 50 ? until - wr_mono_ms()
		                                      : 50);
	}
	return true;
}

static int
tm_ch_fail(tm_ch *s, int rv, const char *what)
{
	tm_fail(s->ctx, "clickhouse sink %s: %s: %s", s->sk->table, what,
	        s->err);
	s->failed = rv;
	return rv;
}

/* Sends the batch until ClickHouse acknowledges it, retrying transient
 * failures with backoff (file comment). */
static int
tm_ch_flush(tm_ch *s)
{
	int64_t start = wr_mono_ms(), wait = TM_CH_BACKOFF_MIN_MS;
	if (s->failed != WR_OK)
		return s->failed;
	if (s->nrows == 0)
		return WR_OK;
	for (int attempt = 1;; attempt++) {
		int rv = tm_ch_post(s);
		if (rv == WR_OK)
			break;
		if (rv != WR_EUNREACHABLE)
			return tm_ch_fail(s, rv, "insert refused");
		if (wr_mono_ms() - start + wait > TM_CH_RETRY_MS)
			return tm_ch_fail(s, rv, "insert failed for too long");
		wr_log(WR_LOG_WARN, "CH-SINK-RETRY",
		       "%s node=%s: attempt %d: %s; again in %lld ms",
		       s->conf->label, s->node->id, attempt, s->err,
		       (long long)wait);
		if (!tm_ch_backoff(s, wait))
			return WR_ECLOSED;
		wait = wait * 2 > TM_CH_BACKOFF_MAX_MS ? TM_CH_BACKOFF_MAX_MS
		                                       : wait * 2;
	}
	wr_buf_reset(&s->batch);
	s->nrows = 0;
	return WR_OK;
}

/* ---- the operator ------------------------------------------------------ */

static int
tm_ch_push(void *self, int input, const wr_row *r)
{
	tm_ch *s = self;
	(void)input;
	size_t before = s->batch.len;
	if (s->failed != WR_OK)
		return s->failed;
	/* Timestamps go as epoch ms: every ClickHouse version reads a
	 * number into Int64/UInt64 (docs/sinks.md). */
	s->row.n = r->n < s->in->n ? r->n : s->in->n;
	memcpy(s->row.v, r->v, s->row.n * sizeof(r->v[0]));
	for (uint32_t i = 0; i < s->row.n; i++)
		if (s->row.v[i].type == WR_T_TIMESTAMP)
			s->row.v[i].type = WR_T_LONG;
	if (s->nrows == 0)
		s->first_ms = wr_mono_ms();
	wr_row_to_json(s->in, &s->row, &s->batch);
	wr_buf_putc(&s->batch, '\n');
	s->nrows++;
	tm_count(s->ctx, TM_COUNT_OUT, 1);
	tm_count(s->ctx, TM_COUNT_BYTES_OUT, (double)(s->batch.len - before));
	if (s->nrows >= s->sk->batch_rows ||
	    (int64_t)s->batch.len >= s->sk->batch_bytes)
		return tm_ch_flush(s);
	return WR_OK;
}

/* A batch older than flush_interval goes even when no record comes. */
static int
tm_ch_tick(void *self, int64_t now_ms)
{
	tm_ch *s = self;
	if (s->nrows > 0 && now_ms - s->first_ms >= s->sk->flush_ms)
		return tm_ch_flush(s);
	return s->failed;
}

/* The barrier: everything before it is in ClickHouse before the task
 * acknowledges it. A fenced task sends nothing: the checkpoint fails. */
static int
tm_ch_snapshot(void *self, uint64_t ckpt, wr_buf *out)
{
	tm_ch *s = self;
	(void)ckpt;
	if (!tm_sink_may_write(s->ctx))
		return WR_ESTATE;
	int rv = tm_ch_flush(s);
	if (rv == WR_OK)
		wr_buf_putc(out, TM_CH_STATE_V1);
	return rv;
}

static int
tm_ch_finish(void *self)
{
	return tm_ch_flush(self);
}

/* Rows not yet acknowledged are dropped: a restart replays them from the
 * checkpoint. */
static void
tm_ch_destroy(void *self)
{
	tm_ch *s = self;
	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s->endpoint);
	explicit_bzero(s->password, sizeof(s->password));
	wr_buf_fini(&s->batch);
	wr_buf_fini(&s->resp);
	free(s);
}

/* ---- setup ------------------------------------------------------------- */

/* The password from password_file (on this TaskManager): its first line. */
static int
tm_ch_read_password(tm_ch *s, char *errbuf, size_t errlen)
{
	const char *path = s->sk->password_file;
	if (path == NULL)
		return WR_OK;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(errbuf, errlen,
		         "clickhouse sink %s: cannot read password_file %s: %s",
		         s->sk->table, path, strerror(errno));
		return wr_err_from_errno(errno);
	}
	if (fgets(s->password, sizeof(s->password), f) == NULL)
		s->password[0] = '\0';
	fclose(f);
	s->password[strcspn(s->password, "\r\n")] = '\0';
	return WR_OK;
}

/* url + "/?query=INSERT INTO `db`.`t` FORMAT JSONEachRow", escaped. */
static int
tm_ch_build_endpoint(tm_ch *s, char *errbuf, size_t errlen)
{
	char sql[400], quoted[300];
	const char *table = s->sk->table, *dot = strchr(table, '.');
	if (dot != NULL)
		snprintf(quoted, sizeof(quoted), "`%.*s`.`%s`",
		         (int)(dot - table), table, dot + 1);
	else
		snprintf(quoted, sizeof(quoted), "`%s`", table);
	snprintf(sql, sizeof(sql), "INSERT INTO %s FORMAT JSONEachRow", quoted);
	char *q = curl_easy_escape(s->curl, sql, 0);
	if (q == NULL) {
		snprintf(errbuf, errlen, "clickhouse sink: out of memory");
		return WR_ENOMEM;
	}
	const char *url = s->sk->url;
	size_t ul = strlen(url);
	while (ul > 0 && url[ul - 1] == '/')
		ul--;
	size_t n = ul + strlen(q) + 16;
	s->endpoint = wr_xmalloc(n);
	snprintf(s->endpoint, n, "%.*s/?query=%s", (int)ul, url, q);
	curl_free(q);
	return WR_OK;
}

/* curl_easy_init would initialize libcurl lazily, which is not safe when
 * several sink subtasks of one TaskManager start at once. */
static pthread_once_t tm_ch_once = PTHREAD_ONCE_INIT;
static CURLcode tm_ch_global_rv;

static void
tm_ch_global_init(void)
{
	tm_ch_global_rv = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int
tm_ch_open(tm_ch *s, char *errbuf, size_t errlen)
{
	int rv;
	if ((rv = tm_ch_read_password(s, errbuf, errlen)) != WR_OK)
		return rv;
	pthread_once(&tm_ch_once, tm_ch_global_init);
	if (tm_ch_global_rv != CURLE_OK ||
	    (s->curl = curl_easy_init()) == NULL) {
		snprintf(errbuf, errlen,
		         "clickhouse sink: curl_easy_init failed");
		return WR_ENOMEM;
	}
	if ((rv = tm_ch_build_endpoint(s, errbuf, errlen)) != WR_OK)
		return rv;
	CURL *c = s->curl;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)TM_CH_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TM_CH_HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (s->sk->user != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, s->sk->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, s->password);
	}
	return WR_OK;
}

static int
tm_sink_clickhouse_open(tm_ctx *ctx, const wr_node_spec *node, void **self,
                        char *errbuf, size_t errlen)
{
	tm_ch *s = wr_xcalloc(1, sizeof(*s));
	s->ctx = ctx;
	s->conf = tm_conf(ctx);
	s->node = node;
	s->sk = &node->sink;
	s->in = wr_jobspec_input_schema(s->conf->job, node, 0);
	wr_buf_init(&s->batch);
	wr_buf_init(&s->resp);
	int rv = tm_ch_open(s, errbuf, errlen);
	if (rv != WR_OK) {
		tm_ch_destroy(s);
		return rv;
	}
	*self = s;
	return WR_OK;
}

/* With checkpoints, every batch before a barrier is acknowledged before
 * the barrier is. */
const tm_op_vt tm_sink_clickhouse = {
    .name = "clickhouse sink",
    .open = tm_sink_clickhouse_open,
    .process = tm_ch_push,
    .snapshot = tm_ch_snapshot,
    .tick = tm_ch_tick,
    .finish = tm_ch_finish,
    .close = tm_ch_destroy,
};

const tm_op_vt tm_sink_clickhouse_plain = {
    .name = "clickhouse sink",
    .open = tm_sink_clickhouse_open,
    .process = tm_ch_push,
    .tick = tm_ch_tick,
    .finish = tm_ch_finish,
    .close = tm_ch_destroy,
};
