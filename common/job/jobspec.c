/*
 * jobspec.c - a job file (SPEC "Job file") into a wr_jobspec: the top
 * level, checkpointing, restart, sources, and the graph checks (ids,
 * `from:`, cycles, the order of nodes). Nodes themselves are read in
 * jobspec_node.c; the passes are described in jobspec_int.h.
 *
 * Defaults follow Flink (notes/flink-lessons.md): checkpointing off unless
 * an interval is set, timeout 10 min, exactly-once, one retained
 * checkpoint; fixed-delay restarts without bound when checkpointing is on,
 * none otherwise; max_parallelism 128 up to parallelism 128, then the next
 * power of two of 1.5 x parallelism, capped at WR_JOB_MAX_KEY_GROUPS.
 */
#include "jobspec.h"
#include "jobspec_int.h"

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "parse.h"
#include "wr_assert.h"
#include "wr_limits.h"
#include "wr_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Events per second per subtask of a generator that sets no rate. */
#define WR_JOB_DEFAULT_RATE 1000

/* ---- messages and typed values ---------------------------------------- */

static int __attribute__((format(printf, 4, 0)))
wr_job_vfail(wr_jp *p, int line, int col, const char *fmt, va_list ap)
{
	int n;

	if (p->errbuf == NULL || p->errlen == 0)
		return WR_EINVAL;
	n = snprintf(p->errbuf, p->errlen, "%s:%d:%d: ", p->file, line, col);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
	return WR_EINVAL;
}

int
wr_job_failat(wr_jp *p, int line, int col, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = wr_job_vfail(p, line, col, fmt, ap);
	va_end(ap);
	return rc;
}

int
wr_job_fail(wr_jp *p, const wr_yaml_node *at, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = wr_job_vfail(p, at->line, at->col, fmt, ap);
	va_end(ap);
	return rc;
}

const wr_yaml_node *
wr_job_key(const wr_yaml_node *map, const char *key)
{
	size_t len = strlen(key);

	if (map == NULL || map->kind != WR_YAML_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		const wr_yaml_node *k = map->keys[i];
		if (k->scalar_len == len && memcmp(k->scalar, key, len) == 0)
			return k;
	}
	return NULL;
}

static const char *
wr_job_kind_name(const wr_yaml_node *n)
{
	if (n->kind == WR_YAML_SCALAR && n->is_null)
		return "null";
	return wr_yaml_kind_name(n->kind);
}

int
wr_job_need_map(wr_jp *p, const wr_yaml_node *n, const char *what, bool null_ok)
{
	if (n->kind == WR_YAML_MAP)
		return WR_OK;
	if (null_ok && n->kind == WR_YAML_SCALAR && n->is_null)
		return WR_OK;
	return wr_job_fail(p, n, "%s must be a map, not a %s", what,
	                   wr_job_kind_name(n));
}

int
wr_job_check_keys(wr_jp *p, const wr_yaml_node *map, const char *const *known,
                  const char *where)
{
	char key[WR_JOB_WHERE_BYTES];
	wr_buf list;
	int rc;

	if (map->kind != WR_YAML_MAP)
		return WR_OK;
	for (size_t i = 0; i < map->n; i++) {
		const wr_yaml_node *k = map->keys[i];
		if (wr_job_kind_index(known, k) >= 0)
			continue;
		wr_buf_init(&list);
		for (const char *const *s = known; *s != NULL; s++)
			wr_buf_printf(&list, "%s%s", s == known ? "" : ", ",
			              *s);
		wr_quote_for_msg(k->scalar, k->scalar_len, key, sizeof(key));
		if (list.len == 0)
			rc = wr_job_fail(p, k,
			                 "unknown key '%s' %s (it takes "
			                 "no keys)",
			                 key, where);
		else
			rc =
			    wr_job_fail(p, k, "unknown key '%s' %s (known: %s)",
			                key, where, list.data);
		wr_buf_fini(&list);
		return rc;
	}
	return WR_OK;
}

int
wr_job_scalar(wr_jp *p, const wr_yaml_node *map, const char *key,
              const char *path, bool required, const wr_yaml_node **out)
{
	const wr_yaml_node *v = wr_yaml_map_get(map, key);

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return WR_OK;
		return wr_job_fail(p, map, "%s%s is required", path, key);
	}
	if (v->kind != WR_YAML_SCALAR)
		return wr_job_fail(p, v, "%s%s must be a scalar, not a %s",
		                   path, key, wr_yaml_kind_name(v->kind));
	/* An empty string ("") is never a topic, path, id or expression. */
	if (v->is_null || v->scalar_len == 0)
		return wr_job_fail(p, v, "%s%s: missing value", path, key);
	if (strlen(v->scalar) != v->scalar_len)
		return wr_job_fail(p, v, "%s%s: the value contains a NUL byte",
		                   path, key);
	*out = v;
	return WR_OK;
}

int
wr_job_str(wr_jp *p, const wr_yaml_node *map, const char *key, const char *path,
           bool required, char **out)
{
	const wr_yaml_node *v;
	int rc = wr_job_scalar(p, map, key, path, required, &v);

	if (rc != WR_OK || v == NULL)
		return rc;
	free(*out);
	*out = wr_xstrdup(v->scalar);
	return WR_OK;
}

/* "is below the minimum 10ms" / "is above the maximum 7d" for durations
 * (ms) and plain numbers. */
static int
wr_job_range_fail(wr_jp *p, const wr_yaml_node *v, const char *path,
                  const char *key, bool dur, bool below, int64_t lim)
{
	char shown[WR_JOB_WHERE_BYTES], l[32];

	wr_quote_for_msg(v->scalar, v->scalar_len, shown, sizeof(shown));
	if (dur)
		wr_format_duration(lim, l, sizeof(l));
	else
		snprintf(l, sizeof(l), "%lld", (long long)lim);
	return wr_job_fail(p, v, "%s%s: %s is %s the %s %s", path, key, shown,
	                   below ? "below" : "above",
	                   below ? "minimum" : "maximum", l);
}

int
wr_job_dur(wr_jp *p, const wr_yaml_node *map, const char *key, const char *path,
           int64_t min, int64_t max, bool off_ok, int64_t *out)
{
	char shown[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *v;
	int64_t ms;
	int rc = wr_job_scalar(p, map, key, path, false, &v);

	if (rc != WR_OK || v == NULL)
		return rc;
	if (off_ok &&
	    (strcmp(v->scalar, "off") == 0 || strcmp(v->scalar, "0") == 0)) {
		*out = 0;
		return WR_OK;
	}
	rc = wr_parse_duration_ms(v->scalar, &ms);
	if (rc == WR_ETOOBIG)
		return wr_job_range_fail(p, v, path, key, true, false, max);
	if (rc != WR_OK) {
		wr_quote_for_msg(v->scalar, v->scalar_len, shown,
		                 sizeof(shown));
		return wr_job_fail(p, v,
		                   "%s%s: '%s' is not a duration (write 500ms, "
		                   "10s, 5m, 1h%s)",
		                   path, key, shown, off_ok ? " or off" : "");
	}
	if (ms < min)
		return wr_job_range_fail(p, v, path, key, true, true, min);
	if (ms > max)
		return wr_job_range_fail(p, v, path, key, true, false, max);
	*out = ms;
	return WR_OK;
}

int
wr_job_int(wr_jp *p, const wr_yaml_node *map, const char *key, const char *path,
           int64_t min, int64_t max, int64_t *out)
{
	char shown[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *v;
	int64_t x;
	int rc = wr_job_scalar(p, map, key, path, false, &v);

	if (rc != WR_OK || v == NULL)
		return rc;
	rc = wr_parse_int64(v->scalar, &x);
	if (rc == WR_ETOOBIG)
		return wr_job_range_fail(p, v, path, key, false,
		                         v->scalar[0] == '-',
		                         v->scalar[0] == '-' ? min : max);
	if (rc != WR_OK || v->quoted) {
		wr_quote_for_msg(v->scalar, v->scalar_len, shown,
		                 sizeof(shown));
		return wr_job_fail(p, v, "%s%s: '%s' is not an integer", path,
		                   key, shown);
	}
	if (x < min || x > max)
		return wr_job_range_fail(p, v, path, key, false, x < min,
		                         x < min ? min : max);
	*out = x;
	return WR_OK;
}

int
wr_job_double(wr_jp *p, const wr_yaml_node *map, const char *key,
              const char *path, double min, double max, double *out)
{
	char shown[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *v;
	char *end;
	double x;
	int rc = wr_job_scalar(p, map, key, path, false, &v);

	if (rc != WR_OK || v == NULL)
		return rc;
	wr_quote_for_msg(v->scalar, v->scalar_len, shown, sizeof(shown));
	errno = 0;
	x = strtod(v->scalar, &end);
	if (v->quoted || end == v->scalar || *end != '\0' || errno != 0 ||
	    !isfinite(x))
		return wr_job_fail(p, v, "%s%s: '%s' is not a number", path,
		                   key, shown);
	if (x < min || x > max)
		return wr_job_fail(p, v, "%s%s: %s is outside %g .. %g", path,
		                   key, shown, min, max);
	*out = x;
	return WR_OK;
}

int
wr_job_enum(wr_jp *p, const wr_yaml_node *map, const char *key,
            const char *path, const char *names, int *out)
{
	char shown[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *v;
	wr_buf list;
	int rc = wr_job_scalar(p, map, key, path, false, &v);
	int idx = 0;

	if (rc != WR_OK || v == NULL)
		return rc;
	for (const char *s = names;; idx++) {
		const char *bar = strchr(s, '|');
		size_t n = bar != NULL ? (size_t)(bar - s) : strlen(s);
		if (n == v->scalar_len && memcmp(s, v->scalar, n) == 0) {
			*out = idx;
			return WR_OK;
		}
		if (bar == NULL)
			break;
		s = bar + 1;
	}
	wr_buf_init(&list);
	for (const char *s = names; *s != '\0'; s++) {
		if (*s == '|')
			wr_buf_puts(&list, ", ");
		else
			wr_buf_putc(&list, *s);
	}
	wr_quote_for_msg(v->scalar, v->scalar_len, shown, sizeof(shown));
	rc = wr_job_fail(p, v, "%s%s: '%s' is not one of %s", path, key, shown,
	                 list.data);
	wr_buf_fini(&list);
	return rc;
}

static bool
wr_job_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

bool
wr_job_valid_id(const char *s, size_t len)
{
	if (len == 0 || len >= WR_JOB_MAX_ID_BYTES)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!wr_job_id_char(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool
wr_job_valid_field(const char *s, size_t len)
{
	if (len == 0 || len >= WR_JOB_MAX_ID_BYTES ||
	    (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!wr_job_id_char(s[i]))
			return false;
	return true;
}

/* ---- top level, checkpointing, restart -------------------------------- */

static const char *const wr_job_top_keys[] = {
    "name",          "parallelism", "max_parallelism",
    "checkpointing", "restart",     "sources",
    "nodes",         "tables",      NULL};
static const char *const wr_job_ckpt_keys[] = {
    "interval", "timeout",          "mode",        "min_pause",
    "retained", "tolerable_failed", "incremental", NULL};

static int
wr_job_parse_ckpt(wr_jp *p)
{
	wr_checkpoint_spec *c = &p->spec->checkpointing;
	const wr_yaml_node *m = wr_yaml_map_get(p->root, "checkpointing");
	const char *pre = "checkpointing.";
	int64_t retained = 1, tolerable = 0;
	int mode = 0, incremental = 1, rc;

	c->incremental = true;
	c->interval_ms = 0;
	c->timeout_ms = 10 * 60 * 1000;
	c->min_pause_ms = 0;
	c->mode = WR_SEM_EXACTLY_ONCE;
	c->retained = 1;
	c->tolerable_failed = 0;
	if (m == NULL)
		return WR_OK;
	if ((rc = wr_job_need_map(p, m, "'checkpointing'", true)) != WR_OK ||
	    (rc = wr_job_check_keys(p, m, wr_job_ckpt_keys,
	                            "in 'checkpointing'")) != WR_OK ||
	    (rc = wr_job_dur(p, m, "interval", pre, WR_JOB_MIN_CKPT_MS,
	                     WR_JOB_MAX_DURATION, true, &c->interval_ms)) ||
	    (rc = wr_job_dur(p, m, "timeout", pre, WR_JOB_MIN_CKPT_MS,
	                     WR_JOB_MAX_DURATION, false, &c->timeout_ms)) ||
	    (rc = wr_job_enum(p, m, "mode", pre, "exactly_once|at_least_once",
	                      &mode)) ||
	    (rc = wr_job_dur(p, m, "min_pause", pre, 0, WR_JOB_MAX_DURATION,
	                     false, &c->min_pause_ms)) ||
	    (rc = wr_job_int(p, m, "retained", pre, 1, WR_JOB_MAX_RETAINED,
	                     &retained)) ||
	    (rc = wr_job_int(p, m, "tolerable_failed", pre, 0,
	                     WR_JOB_MAX_TOLERABLE, &tolerable)) ||
	    (rc = wr_job_enum(p, m, "incremental", pre, "false|true",
	                      &incremental)))
		return rc;
	c->incremental = incremental == 1;
	c->mode = mode == 0 ? WR_SEM_EXACTLY_ONCE : WR_SEM_AT_LEAST_ONCE;
	c->retained = (int)retained;
	c->tolerable_failed = (int)tolerable;
	return WR_OK;
}

/* attempts: a count, or "unbounded" (also -1). */
static int
wr_job_attempts(wr_jp *p, const wr_yaml_node *m, int64_t *out)
{
	const wr_yaml_node *v = wr_yaml_map_get(m, "attempts");

	if (v != NULL && v->kind == WR_YAML_SCALAR &&
	    (strcmp(v->scalar, "unbounded") == 0 ||
	     strcmp(v->scalar, "-1") == 0)) {
		*out = -1;
		return WR_OK;
	}
	return wr_job_int(p, m, "attempts", "restart.", 0, WR_JOB_MAX_ATTEMPTS,
	                  out);
}

static const char *const wr_job_restart_keys[][6] = {
    {"strategy", NULL},
    {"strategy", "delay", "attempts", NULL},
    {"strategy", "initial_delay", "max_delay", "multiplier", "attempts", NULL},
};
static const char *const wr_job_restart_names[] = {"none", "fixed_delay",
                                                   "exponential"};

static int
wr_job_parse_exponential(wr_jp *p, const wr_yaml_node *m)
{
	wr_restart_spec *r = &p->spec->restart;
	const wr_yaml_node *max;
	char a[32], b[32];
	int rc;

	if ((rc = wr_job_dur(p, m, "initial_delay", "restart.", 1,
	                     WR_JOB_MAX_DELAY_MS, false, &r->delay_ms)) ||
	    (rc = wr_job_dur(p, m, "max_delay", "restart.", 1,
	                     WR_JOB_MAX_DURATION, false, &r->max_delay_ms)) ||
	    (rc = wr_job_double(p, m, "multiplier", "restart.", 1.0,
	                        WR_JOB_MAX_MULTIPLIER, &r->multiplier)))
		return rc;
	if (r->max_delay_ms < r->delay_ms) {
		max = wr_yaml_map_get(m, "max_delay");
		wr_format_duration(r->max_delay_ms, a, sizeof(a));
		wr_format_duration(r->delay_ms, b, sizeof(b));
		return wr_job_fail(p, max != NULL ? max : m,
		                   "restart.max_delay %s is below "
		                   "restart.initial_delay %s",
		                   a, b);
	}
	return WR_OK;
}

static int
wr_job_parse_restart(wr_jp *p)
{
	wr_restart_spec *r = &p->spec->restart;
	const wr_yaml_node *m = wr_yaml_map_get(p->root, "restart");
	bool ckpt = p->spec->checkpointing.interval_ms > 0;
	char where[WR_JOB_WHERE_BYTES];
	int kind = ckpt ? WR_RESTART_FIXED : WR_RESTART_NONE;
	int rc;

	if (m != NULL &&
	    ((rc = wr_job_need_map(p, m, "'restart'", true)) != WR_OK ||
	     (rc = wr_job_enum(p, m, "strategy", "restart.",
	                       "none|fixed_delay|exponential", &kind))))
		return rc;
	r->kind = (enum wr_restart_kind)kind;
	r->delay_ms = 1000;
	r->max_delay_ms = 5 * 60 * 1000;
	r->multiplier = 2.0;
	/* Flink: unbounded when restarts exist only because checkpointing
	 * is on; an explicit fixed_delay without checkpoints tries once. */
	r->attempts = kind == WR_RESTART_FIXED && !ckpt ? 1 : -1;
	if (kind == WR_RESTART_NONE)
		r->attempts = 0;
	if (m == NULL)
		return WR_OK;
	snprintf(where, sizeof(where), "in 'restart' (strategy %s)",
	         wr_job_restart_names[kind]);
	if ((rc = wr_job_check_keys(p, m, wr_job_restart_keys[kind], where)))
		return rc;
	if (kind == WR_RESTART_FIXED)
		rc = wr_job_dur(p, m, "delay", "restart.", 0,
		                WR_JOB_MAX_DELAY_MS, false, &r->delay_ms);
	else if (kind == WR_RESTART_EXPONENTIAL)
		rc = wr_job_parse_exponential(p, m);
	if (rc == WR_OK && kind != WR_RESTART_NONE)
		rc = wr_job_attempts(p, m, &r->attempts);
	return rc;
}

static int
wr_job_parse_name(wr_jp *p)
{
	const wr_yaml_node *v;
	int rc = wr_job_scalar(p, p->root, "name", "", true, &v);

	if (rc != WR_OK)
		return rc;
	if (v->scalar_len >= WR_JOB_MAX_NAME_BYTES)
		return wr_job_fail(p, v, "name: longer than %d bytes",
		                   WR_JOB_MAX_NAME_BYTES - 1);
	for (size_t i = 0; i < v->scalar_len; i++)
		if ((unsigned char)v->scalar[i] < 0x20 || v->scalar[i] == 0x7f)
			return wr_job_fail(p, v,
			                   "name: control characters are "
			                   "not allowed");
	p->spec->name = wr_xstrdup(v->scalar);
	return WR_OK;
}

static int
wr_job_parse_top(wr_jp *p)
{
	int64_t par = 1, maxp = WR_JOB_DEFAULT_MAX_PARALLELISM;
	int rc;

	if (p->root->kind != WR_YAML_MAP)
		return wr_job_fail(p, p->root,
		                   "the top level must be a map, not a %s",
		                   wr_job_kind_name(p->root));
	if ((rc = wr_job_check_keys(p, p->root, wr_job_top_keys,
	                            "at the top level")) ||
	    (rc = wr_job_parse_name(p)) ||
	    (rc = wr_job_int(p, p->root, "parallelism", "", 1,
	                     WR_JOB_MAX_PARALLELISM, &par)) ||
	    (rc = wr_job_int(p, p->root, "max_parallelism", "", 1,
	                     WR_JOB_MAX_KEY_GROUPS, &maxp)) ||
	    (rc = wr_job_parse_ckpt(p)) || (rc = wr_job_parse_restart(p)))
		return rc;
	p->spec->parallelism =
	    p->parallelism_override > 0 ? p->parallelism_override : (int)par;
	p->spec->max_parallelism = (int)maxp;
	return WR_OK;
}

/* ---- sources ----------------------------------------------------------- */

typedef struct wr_job_field {
	const char *name;
	enum wr_type type;
} wr_job_field;

/* datagen: the orders of the seeds' use cases (weir gen orders). */
static const wr_job_field wr_job_datagen_schema[] = {
    {"order_id", WR_T_STRING},
    {"product_id", WR_T_STRING},
    {"customer_id", WR_T_STRING},
    {"amount", WR_T_DOUBLE},
    {"status", WR_T_STRING},
    {"ts", WR_T_TIMESTAMP},
    {NULL, WR_T_NULL},
};

/*
 * nexmark: the benchmark's three event types flattened into one row.
 * event_type says which ("person", "auction", "bid"); fields of the other
 * types are null. ts is the event's date_time for all three. Ids that name
 * the same thing share a column, so a stream can be keyed by auction_id
 * for both auctions and bids: auction_id is an auction's own id and the
 * auction a bid is for; person_id is a person's own id (seller and bidder
 * refer to persons).
 */
static const wr_job_field wr_job_nexmark_schema[] = {
    {"event_type", WR_T_STRING},
    {"ts", WR_T_TIMESTAMP},
    /* person */
    {"person_id", WR_T_LONG},
    {"name", WR_T_STRING},
    {"email", WR_T_STRING},
    {"credit_card", WR_T_STRING},
    {"city", WR_T_STRING},
    {"state", WR_T_STRING},
    /* auction (and the auction of a bid) */
    {"auction_id", WR_T_LONG},
    {"item_name", WR_T_STRING},
    {"description", WR_T_STRING},
    {"initial_bid", WR_T_LONG},
    {"reserve", WR_T_LONG},
    {"expires", WR_T_TIMESTAMP},
    {"seller", WR_T_LONG},
    {"category", WR_T_LONG},
    /* bid */
    {"bidder", WR_T_LONG},
    {"price", WR_T_LONG},
    {"channel", WR_T_STRING},
    {"url", WR_T_STRING},
    /* Nexmark's padding of every event to its usual size (200, 500 and
     * 100 bytes on average for persons, auctions, bids) */
    {"extra", WR_T_STRING},
    {NULL, WR_T_NULL},
};

static const char *const wr_job_source_keys[] = {
    "kafka",  "datagen",    "nexmark", "file",        "format",
    "schema", "event_time", "invalid", "parallelism", NULL};
static const char *const wr_job_src_kinds[] = {"kafka", "datagen", "nexmark",
                                               "file", NULL};
static const char *const wr_job_kafka_src_keys[] = {
    "topic", "bootstrap", "startup", "group", "allow_missing", NULL};
static const char *const wr_job_gen_keys[] = {"rate", "count", NULL};
static const char *const wr_job_file_keys[] = {"path", NULL};
static const char *const wr_job_evt_keys[] = {"field", "max_out_of_orderness",
                                              "idle_timeout", NULL};
static const char *const wr_job_invalid_keys[] = {"policy", "topic", NULL};

/* A Kafka topic name: [A-Za-z0-9._-], at most 249 bytes (Kafka's rule). */
int
wr_job_topic(wr_jp *p, const wr_yaml_node *map, const char *key,
             const char *path, bool required, char **out)
{
	const wr_yaml_node *v;
	int rc = wr_job_scalar(p, map, key, path, required, &v);

	if (rc != WR_OK || v == NULL)
		return rc;
	for (size_t i = 0; i < v->scalar_len; i++)
		if (!wr_job_id_char(v->scalar[i]) && v->scalar[i] != '-' &&
		    v->scalar[i] != '.')
			return wr_job_fail(
			    p, v,
			    "%s%s: a topic name has only letters, "
			    "digits, '.', '_' and '-'",
			    path, key);
	if (v->scalar_len > WR_JOB_MAX_TOPIC_LEN ||
	    strcmp(v->scalar, ".") == 0 || strcmp(v->scalar, "..") == 0)
		return wr_job_fail(p, v, "%s%s: not a valid Kafka topic name",
		                   path, key);
	free(*out);
	*out = wr_xstrdup(v->scalar);
	return WR_OK;
}

int
wr_job_parse_kafka_src(wr_jp *p, wr_source_spec *s, const wr_yaml_node *m,
                       const char *id)
{
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	int startup = WR_STARTUP_EARLIEST, missing = 0, rc;

	snprintf(where, sizeof(where), "in 'kafka' of source '%s'", id);
	snprintf(pre, sizeof(pre), "source '%s': kafka.", id);
	if ((rc = wr_job_need_map(p, m, "'kafka'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_kafka_src_keys, where)) ||
	    (rc = wr_job_topic(p, m, "topic", pre, true, &s->topic)) ||
	    (rc = wr_job_str(p, m, "bootstrap", pre, false, &s->bootstrap)) ||
	    (rc = wr_job_enum(p, m, "startup", pre,
	                      "earliest|latest|group-offsets", &startup)) ||
	    (rc = wr_job_str(p, m, "group", pre, false, &s->group)) ||
	    (rc = wr_job_enum(p, m, "allow_missing", pre, "false|true",
	                      &missing)))
		return rc;
	s->startup = (enum wr_startup)startup;
	s->allow_missing = missing == 1;
	if (s->startup == WR_STARTUP_GROUP && s->group == NULL)
		return wr_job_fail(p, wr_yaml_map_get(m, "startup"),
		                   "%sstartup group-offsets needs kafka.group "
		                   "(the consumer group whose offsets to read)",
		                   pre);
	return WR_OK;
}

/* The tables above are ours: a failure is a bug, not bad input. */
static void
wr_job_fixed_schema(wr_source_spec *s, const wr_job_field *f)
{
	for (; f->name != NULL; f++)
		WR_ASSERT(wr_schema_add(&s->schema, f->name, f->type) == WR_OK);
}

static int
wr_job_parse_connector(wr_jp *p, wr_node_spec *n, const wr_yaml_node *key,
                       const wr_yaml_node *m)
{
	wr_source_spec *s = &n->source;
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES], what[40];
	int rc;

	snprintf(what, sizeof(what), "'%s'", key->scalar);
	snprintf(where, sizeof(where), "in '%s' of source '%s'", key->scalar,
	         n->id);
	snprintf(pre, sizeof(pre), "source '%s': %s.", n->id, key->scalar);
	switch (s->kind) {
	case WR_SRC_KAFKA:
		return wr_job_parse_kafka_src(p, s, m, n->id);
	case WR_SRC_DATAGEN:
	case WR_SRC_NEXMARK:
		s->rate = WR_JOB_DEFAULT_RATE;
		if ((rc = wr_job_need_map(p, m, what, true)) ||
		    (rc = wr_job_check_keys(p, m, wr_job_gen_keys, where)) ||
		    (rc = wr_job_int(p, m, "rate", pre, 0, WR_JOB_MAX_GEN_RATE,
		                     &s->rate)) ||
		    (rc = wr_job_int(p, m, "count", pre, 0,
		                     WR_JOB_MAX_GEN_COUNT, &s->count)))
			return rc;
		wr_job_fixed_schema(s, s->kind == WR_SRC_DATAGEN
		                           ? wr_job_datagen_schema
		                           : wr_job_nexmark_schema);
		return WR_OK;
	case WR_SRC_FILE:
		if ((rc = wr_job_need_map(p, m, what, false)) ||
		    (rc = wr_job_check_keys(p, m, wr_job_file_keys, where)))
			return rc;
		return wr_job_str(p, m, "path", pre, true, &s->path);
	}
	wr_panic(__FILE__, __LINE__, "source kind %d", (int)s->kind);
}

int
wr_job_kind_index(const char *const *kinds, const wr_yaml_node *key)
{
	for (int k = 0; kinds[k] != NULL; k++)
		if (strlen(kinds[k]) == key->scalar_len &&
		    memcmp(kinds[k], key->scalar, key->scalar_len) == 0)
			return k;
	return -1;
}

/* Exactly one of kinds (NULL-terminated) among map's keys; *which is its
 * index and *key its key node. what names the map for messages. */
int
wr_job_one_of(wr_jp *p, const wr_yaml_node *map, const char *const *kinds,
              const char *what, int *which, const wr_yaml_node **key)
{
	wr_buf list;
	int rc;

	*which = -1;
	*key = NULL;
	/* In document order, so the second one written is the one named. */
	for (size_t i = 0; map->kind == WR_YAML_MAP && i < map->n; i++) {
		const wr_yaml_node *kn = map->keys[i];
		int k = wr_job_kind_index(kinds, kn);
		if (k < 0)
			continue;
		if (*key != NULL)
			return wr_job_fail(p, kn,
			                   "%s has both '%s' (%d:%d) and '%s': "
			                   "give only one",
			                   what, (*key)->scalar, (*key)->line,
			                   (*key)->col, kinds[k]);
		*which = k;
		*key = kn;
	}
	if (*key != NULL)
		return WR_OK;
	wr_buf_init(&list);
	for (int k = 0; kinds[k] != NULL; k++)
		wr_buf_printf(&list, "%s%s", k ? ", " : "", kinds[k]);
	rc = wr_job_fail(p, map, "%s needs one of %s", what, list.data);
	wr_buf_fini(&list);
	return rc;
}

static int
wr_job_parse_schema(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	char name[WR_JOB_WHERE_BYTES];
	int rc;

	if ((rc = wr_job_need_map(p, m, "'schema'", false)))
		return rc;
	if (m->n == 0)
		return wr_job_fail(p, m, "source '%s': schema has no fields",
		                   n->id);
	for (size_t i = 0; i < m->n; i++) {
		const wr_yaml_node *k = m->keys[i], *v = m->values[i];
		int t = -1;
		wr_quote_for_msg(k->scalar, k->scalar_len, name, sizeof(name));
		if (!wr_job_valid_field(k->scalar, k->scalar_len))
			return wr_job_fail(
			    p, k,
			    "source '%s': field name '%s' is not valid "
			    "(letters, "
			    "digits and '_', not starting with a digit)",
			    n->id, name);
		if (v->kind == WR_YAML_SCALAR && !v->is_null)
			t = wr_type_parse(v->scalar);
		if (t <= (int)WR_T_NULL)
			return wr_job_fail(
			    p, v,
			    "source '%s': field '%s': unknown type "
			    "(known: string, long, double, bool, "
			    "timestamp)",
			    n->id, name);
		rc = wr_schema_add(&n->source.schema, k->scalar,
		                   (enum wr_type)t);
		if (rc != WR_OK)
			return wr_job_fail(p, k,
			                   "source '%s': more than %d fields",
			                   n->id, WR_MAX_FIELDS);
	}
	return WR_OK;
}

static int
wr_job_parse_event_time(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	wr_source_spec *s = &n->source;
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *f;
	int rc;

	snprintf(where, sizeof(where), "in 'event_time' of source '%s'", n->id);
	snprintf(pre, sizeof(pre), "source '%s': event_time.", n->id);
	if ((rc = wr_job_need_map(p, m, "'event_time'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_evt_keys, where)) ||
	    (rc = wr_job_scalar(p, m, "field", pre, true, &f)) ||
	    (rc = wr_job_dur(p, m, "max_out_of_orderness", pre, 0,
	                     WR_JOB_MAX_DURATION, false,
	                     &s->max_out_of_orderness_ms)) ||
	    (rc = wr_job_dur(p, m, "idle_timeout", pre, 0, WR_JOB_MAX_DURATION,
	                     true, &s->idle_timeout_ms)))
		return rc;
	s->time_field = wr_schema_index(&s->schema, f->scalar);
	if (s->time_field < 0)
		return wr_job_fail(p, f,
		                   "%sfield: the schema has no field '%s'", pre,
		                   f->scalar);
	if (s->schema.fields[s->time_field].type != WR_T_TIMESTAMP)
		return wr_job_fail(
		    p, f, "%sfield: '%s' is a %s, not a timestamp", pre,
		    f->scalar,
		    wr_type_name(s->schema.fields[s->time_field].type));
	return WR_OK;
}

static int
wr_job_parse_invalid(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	wr_source_spec *s = &n->source;
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	int policy = WR_INVALID_FAIL, rc;

	snprintf(where, sizeof(where), "in 'invalid' of source '%s'", n->id);
	snprintf(pre, sizeof(pre), "source '%s': invalid.", n->id);
	if ((rc = wr_job_need_map(p, m, "'invalid'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_invalid_keys, where)) ||
	    (rc = wr_job_enum(p, m, "policy", pre, "fail|skip|dead_letter",
	                      &policy)) ||
	    (rc = wr_job_topic(p, m, "topic", pre, false, &s->dlq_topic)))
		return rc;
	s->invalid = (enum wr_invalid_policy)policy;
	if (s->invalid == WR_INVALID_DLQ && s->dlq_topic == NULL)
		return wr_job_fail(
		    p, m, "%stopic is required for policy dead_letter", pre);
	if (s->invalid != WR_INVALID_DLQ && s->dlq_topic != NULL)
		return wr_job_fail(p, wr_job_key(m, "topic"),
		                   "%stopic applies only to policy dead_letter",
		                   pre);
	return WR_OK;
}

/* format (json only), schema (fixed for generators), then event time and
 * the bad-record policy, which refer to the schema. */
int
wr_job_parse_payload(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	const wr_yaml_node *fmt, *schema = wr_yaml_map_get(m, "schema");
	const wr_yaml_node *v;
	bool gen = n->source.kind == WR_SRC_DATAGEN ||
	           n->source.kind == WR_SRC_NEXMARK;
	char pre[WR_JOB_WHERE_BYTES], shown[WR_JOB_WHERE_BYTES];
	int rc;

	snprintf(pre, sizeof(pre), "source '%s': ", n->id);
	if ((rc = wr_job_scalar(p, m, "format", pre, false, &fmt)))
		return rc;
	if (fmt != NULL && strcmp(fmt->scalar, "json") != 0) {
		wr_quote_for_msg(fmt->scalar, fmt->scalar_len, shown,
		                 sizeof(shown));
		return wr_job_fail(p, fmt,
		                   "%sformat: '%s' is not supported (only "
		                   "json for now)",
		                   pre, shown);
	}
	if (gen && schema != NULL)
		return wr_job_fail(p, wr_job_key(m, "schema"),
		                   "%s%s has a fixed schema (see "
		                   "docs/job-reference.md): remove 'schema'",
		                   pre, wr_job_src_kinds[n->source.kind]);
	if (!gen && schema == NULL)
		return wr_job_fail(p, m, "%sschema is required", pre);
	if (!gen && (rc = wr_job_parse_schema(p, n, schema)))
		return rc;
	if ((v = wr_yaml_map_get(m, "event_time")) != NULL &&
	    (rc = wr_job_parse_event_time(p, n, v)))
		return rc;
	if ((v = wr_yaml_map_get(m, "invalid")) != NULL &&
	    (rc = wr_job_parse_invalid(p, n, v)))
		return rc;
	wr_schema_copy(&n->out, &n->source.schema);
	return WR_OK;
}

/* Appends a source or node named by the scalar id (checked: valid,
 * unique). */
int
wr_job_add_node(wr_jp *p, const wr_yaml_node *id, const wr_yaml_node *map,
                wr_node_spec **out)
{
	wr_jobspec *spec = p->spec;
	char shown[WR_JOB_WHERE_BYTES];
	wr_node_spec *n;

	wr_quote_for_msg(id->scalar, id->scalar_len, shown, sizeof(shown));
	if (!wr_job_valid_id(id->scalar, id->scalar_len))
		return wr_job_fail(p, id,
		                   "id '%s' is not valid (1 to %d letters, "
		                   "digits, '_' or '-')",
		                   shown, WR_JOB_MAX_ID_BYTES - 1);
	for (size_t i = 0; i < spec->nnodes; i++)
		if (strcmp(spec->nodes[i].id, id->scalar) == 0)
			return wr_job_fail(
			    p, id, "duplicate id '%s' (first at %d:%d)", shown,
			    p->pos[i].id->line, p->pos[i].id->col);
	/* Capacity was sized from the file (wr_job_alloc_nodes). */
	n = &spec->nodes[spec->nnodes];
	memset(n, 0, sizeof(*n));
	n->id = wr_xstrdup(id->scalar);
	n->line = id->line;
	n->col = id->col;
	n->inputs[0] = n->inputs[1] = -1;
	n->source.time_field = -1;
	n->sink.key_field = -1;
	p->pos[spec->nnodes] = (wr_job_pos){.map = map, .id = id};
	spec->nnodes++;
	*out = n;
	return WR_OK;
}

static int
wr_job_parse_source(wr_jp *p, const wr_yaml_node *id, const wr_yaml_node *m)
{
	char what[WR_JOB_WHERE_BYTES], where[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *kind;
	wr_node_spec *n;
	int64_t par = p->spec->parallelism;
	int which, rc;

	if ((rc = wr_job_add_node(p, id, m, &n)))
		return rc;
	n->kind = WR_NODE_SOURCE;
	snprintf(what, sizeof(what), "source '%s'", n->id);
	snprintf(where, sizeof(where), "in source '%s'", n->id);
	if ((rc = wr_job_need_map(p, m, what, false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_source_keys, where)) ||
	    (rc = wr_job_one_of(p, m, wr_job_src_kinds, what, &which, &kind)))
		return rc;
	p->pos[p->spec->nnodes - 1].kind = kind;
	n->source.kind = (enum wr_src_kind)which;
	n->parallelism_set = wr_yaml_map_get(m, "parallelism") != NULL;
	snprintf(what, sizeof(what), "source '%s': ", n->id);
	if ((rc = wr_job_int(p, m, "parallelism", what, 1,
	                     WR_JOB_MAX_PARALLELISM, &par)) ||
	    (rc = wr_job_parse_connector(p, n, kind,
	                                 wr_yaml_map_get(m, kind->scalar))) ||
	    (rc = wr_job_parse_payload(p, n, m)))
		return rc;
	n->parallelism = (int)par;
	return WR_OK;
}

static int
wr_job_parse_sources(wr_jp *p, const wr_yaml_node *m)
{
	int rc;

	if (m == NULL)
		return wr_job_fail(p, p->root,
		                   "the job has no 'sources' (a map of source "
		                   "id to its settings)");
	if ((rc = wr_job_need_map(p, m, "'sources'", false)))
		return rc;
	if (m->n == 0)
		return wr_job_fail(p, m, "'sources' is empty");
	for (size_t i = 0; i < m->n; i++)
		if ((rc = wr_job_parse_source(p, m->keys[i], m->values[i])))
			return rc;
	p->nsources = p->spec->nnodes;
	return WR_OK;
}

static int
wr_job_parse_nodes(wr_jp *p, const wr_yaml_node *seq)
{
	int rc;

	if (seq == NULL)
		return WR_OK; /* no sink: refused by the caller */
	if (seq->kind != WR_YAML_SEQ &&
	    !(seq->kind == WR_YAML_SCALAR && seq->is_null))
		return wr_job_fail(p, seq, "'nodes' must be a list, not a %s",
		                   wr_job_kind_name(seq));
	for (size_t i = 0; i < seq->n; i++)
		if ((rc = wr_job_parse_node(p, seq->values[i], i)))
			return rc;
	return WR_OK;
}

/* Sizes spec->nodes from the file, refusing more than WR_JOB_MAX_NODES. */
static int
wr_job_alloc_nodes(wr_jp *p, const wr_yaml_node *sources,
                   const wr_yaml_node *nodes)
{
	const wr_yaml_node *tables = wr_yaml_map_get(p->root, "tables");
	size_t n = 0;

	if (sources != NULL && sources->kind == WR_YAML_MAP)
		n += sources->n;
	if (tables != NULL && tables->kind == WR_YAML_MAP)
		n += tables->n;
	if (nodes != NULL && nodes->kind == WR_YAML_SEQ)
		n += nodes->n;
	if (n > WR_JOB_MAX_NODES)
		return wr_job_fail(p, nodes != NULL ? nodes : sources,
		                   "%zu sources and nodes: at most %d", n,
		                   WR_JOB_MAX_NODES);
	p->spec->nodes = wr_xcalloc(n > 0 ? n : 1, sizeof(wr_node_spec));
	return WR_OK;
}

/* ---- the graph --------------------------------------------------------- */

/* The name of node n's side output (a window's late_output, a pattern's
 * timeout_output), or NULL. */
static const char *
wr_job_side_name(const wr_node_spec *n)
{
	return n->late_output != NULL ? n->late_output
	                              : n->pattern.timeout_output;
}

/* The key that names it, for messages. */
static const char *
wr_job_side_key(const wr_node_spec *n)
{
	return n->late_output != NULL ? "late_output" : "timeout_output";
}

static int
wr_job_unknown_input(wr_jp *p, size_t i, const wr_yaml_node *from)
{
	const wr_jobspec *spec = p->spec;
	char shown[WR_JOB_WHERE_BYTES];
	wr_buf known;
	bool lates = false;
	int rc;

	wr_quote_for_msg(from->scalar, from->scalar_len, shown, sizeof(shown));
	wr_buf_init(&known);
	for (size_t j = 0; j < spec->nnodes; j++) {
		if (spec->nodes[j].kind != WR_NODE_SINK && j != i)
			wr_buf_printf(&known, "%s%s", known.len ? ", " : "",
			              spec->nodes[j].id);
		if (wr_job_side_name(&spec->nodes[j]) != NULL && j != i) {
			wr_buf_printf(&known, "%s%s", known.len ? ", " : "",
			              wr_job_side_name(&spec->nodes[j]));
			lates = true;
		}
	}
	rc = wr_job_fail(p, from,
	                 "node '%s' reads from '%s', which is neither a "
	                 "source%s nor a node (known: %s)",
	                 spec->nodes[i].id, shown,
	                 lates ? ", a late_output" : "", known.data);
	wr_buf_fini(&known);
	return rc;
}

/* A late output's name must not be taken by an id or another one. */
static int
wr_job_check_late_names(wr_jp *p, size_t i)
{
	const wr_jobspec *spec = p->spec;
	const char *name = wr_job_side_name(&spec->nodes[i]);
	const wr_yaml_node *at;

	if (name == NULL)
		return WR_OK;
	at = wr_yaml_map_get(p->pos[i].map, "late_output");
	if (at == NULL)
		at = wr_yaml_map_get(wr_yaml_map_get(p->pos[i].map, "pattern"),
		                     "timeout_output");
	for (size_t j = 0; j < spec->nnodes; j++) {
		if (strcmp(spec->nodes[j].id, name) == 0)
			return wr_job_fail(
			    p, at,
			    "%s '%s' is already the id "
			    "of a %s (%d:%d)",
			    wr_job_side_key(&spec->nodes[i]), name,
			    spec->nodes[j].kind == WR_NODE_SOURCE ? "source"
			                                          : "node",
			    spec->nodes[j].line, spec->nodes[j].col);
		if (j < i && wr_job_side_name(&spec->nodes[j]) != NULL &&
		    strcmp(wr_job_side_name(&spec->nodes[j]), name) == 0)
			return wr_job_fail(p, at,
			                   "%s '%s' is already the side "
			                   "output of node '%s'",
			                   wr_job_side_key(&spec->nodes[i]),
			                   name, spec->nodes[j].id);
	}
	return WR_OK;
}

/* Index of the node whose side output is name, or -1. */
static int
wr_job_find_late(const wr_jobspec *spec, const char *name)
{
	for (size_t j = 0; j < spec->nnodes; j++)
		if (wr_job_side_name(&spec->nodes[j]) != NULL &&
		    strcmp(wr_job_side_name(&spec->nodes[j]), name) == 0)
			return (int)j;
	return -1;
}

/* Pass 4a: `from:` names to indices; a late output's name to its window
 * node, marked as a side input. */
static int
wr_job_resolve(wr_jp *p)
{
	wr_jobspec *spec = p->spec;
	int rc;

	for (size_t i = p->nsources; i < spec->nnodes; i++)
		if ((rc = wr_job_check_late_names(p, i)))
			return rc;
	for (size_t i = p->nsources; i < spec->nnodes; i++) {
		wr_node_spec *n = &spec->nodes[i];
		for (int k = 0; k < n->ninputs; k++) {
			const wr_yaml_node *from = p->pos[i].from[k];
			int j = wr_jobspec_find(spec, from->scalar);
			if (j < 0) {
				/* Ids and late outputs never clash, so a
				 * name is one or the other. */
				j = wr_job_find_late(spec, from->scalar);
				n->input_side[k] = j >= 0;
			}
			if (j < 0)
				return wr_job_unknown_input(p, i, from);
			if (spec->nodes[j].kind == WR_NODE_SINK)
				return wr_job_fail(
				    p, from,
				    "node '%s' reads from sink '%s': a sink "
				    "emits nothing",
				    n->id, spec->nodes[j].id);
			n->inputs[k] = j;
		}
	}
	return WR_OK;
}

/* The first input of n not placed yet, or -1. */
static int
wr_job_waits_on(const wr_node_spec *n, const bool *placed)
{
	for (int k = 0; k < n->ninputs; k++)
		if (!placed[n->inputs[k]])
			return n->inputs[k];
	return -1;
}

/* Called when the nodes left unplaced all wait on each other: walks
 * inputs among them from the first until one repeats, which lies on a
 * cycle, and names that cycle. */
static int
wr_job_cycle(wr_jp *p, const bool *placed)
{
	const wr_jobspec *spec = p->spec;
	bool seen[WR_JOB_MAX_NODES] = {false};
	int c = 0;
	wr_buf path;
	int rc;

	while (placed[c])
		c++;
	/* Every unplaced node waits on an unplaced input, so the walk stays
	 * among them and repeats within nnodes steps. */
	while (!seen[c]) {
		seen[c] = true;
		c = wr_job_waits_on(&spec->nodes[c], placed);
	}
	/* c is on the cycle: follow it once more to name it. */
	wr_buf_init(&path);
	for (int x = c;;) {
		int next = wr_job_waits_on(&spec->nodes[x], placed);
		wr_buf_printf(&path, "'%s' reads from '%s'", spec->nodes[x].id,
		              spec->nodes[next].id);
		x = next;
		if (x == c)
			break;
		wr_buf_puts(&path, ", ");
	}
	rc = wr_job_fail(p, p->pos[c].from[0],
	                 "node '%s' is part of a cycle: %s", spec->nodes[c].id,
	                 path.data);
	wr_buf_fini(&path);
	return rc;
}

static bool
wr_job_ready(const wr_node_spec *n, const bool *placed)
{
	for (int k = 0; k < n->ninputs; k++)
		if (!placed[n->inputs[k]])
			return false;
	return true;
}

/* Pass 4b: a stable topological order (sources first, then each node as
 * early in file order as its inputs allow); the nodes move into it. */
static int
wr_job_order(wr_jp *p)
{
	wr_jobspec *spec = p->spec;
	size_t n = spec->nnodes, done = 0;
	int order[WR_JOB_MAX_NODES], where[WR_JOB_MAX_NODES];
	bool placed[WR_JOB_MAX_NODES] = {false};
	wr_node_spec *nodes;
	wr_job_pos pos[WR_JOB_MAX_NODES];

	while (done < n) {
		size_t i = 0;
		while (i < n &&
		       (placed[i] || !wr_job_ready(&spec->nodes[i], placed)))
			i++;
		if (i == n)
			return wr_job_cycle(p, placed);
		placed[i] = true;
		where[i] = (int)done;
		order[done++] = (int)i;
	}
	nodes = wr_xcalloc(n > 0 ? n : 1, sizeof(*nodes));
	for (size_t k = 0; k < n; k++) {
		nodes[k] = spec->nodes[order[k]];
		pos[k] = p->pos[order[k]];
		for (int j = 0; j < nodes[k].ninputs; j++)
			nodes[k].inputs[j] = where[nodes[k].inputs[j]];
	}
	memcpy(p->pos, pos, n * sizeof(*pos));
	free(spec->nodes);
	spec->nodes = nodes;
	return WR_OK;
}

/* ---- parallelism ------------------------------------------------------- */

/* Flink's default: 128 up to parallelism 128, else the next power of two
 * of 1.5 x parallelism, at most WR_JOB_MAX_KEY_GROUPS. */
static int
wr_job_default_max_parallelism(int par)
{
	int64_t want = (int64_t)par + par / 2, v = 1;

	if (par <= WR_JOB_DEFAULT_MAX_PARALLELISM)
		return WR_JOB_DEFAULT_MAX_PARALLELISM;
	while (v < want && v < WR_JOB_MAX_KEY_GROUPS)
		v *= 2;
	return (int)v;
}

/* Pass 6. Every node's parallelism is resolved by now. */
static int
wr_job_check_max_parallelism(wr_jp *p)
{
	wr_jobspec *spec = p->spec;
	const wr_yaml_node *v = wr_yaml_map_get(p->root, "max_parallelism");
	size_t top = 0;

	for (size_t i = 1; i < spec->nnodes; i++)
		if (spec->nodes[i].parallelism > spec->nodes[top].parallelism)
			top = i;
	if (v == NULL) {
		spec->max_parallelism = wr_job_default_max_parallelism(
		    spec->nodes[top].parallelism);
		return WR_OK;
	}
	if (spec->max_parallelism < spec->nodes[top].parallelism)
		return wr_job_fail(
		    p, v,
		    "max_parallelism %d is below the "
		    "parallelism %d of %s '%s': it must be at "
		    "least the largest parallelism",
		    spec->max_parallelism, spec->nodes[top].parallelism,
		    spec->nodes[top].kind == WR_NODE_SOURCE ? "source" : "node",
		    spec->nodes[top].id);
	return WR_OK;
}

static int
wr_job_check_sinks(wr_jp *p, const wr_yaml_node *nodes)
{
	for (size_t i = 0; i < p->spec->nnodes; i++)
		if (p->spec->nodes[i].kind == WR_NODE_SINK)
			return WR_OK;
	return wr_job_fail(
	    p, nodes != NULL ? wr_job_key(p->root, "nodes") : p->root,
	    "the job has no sink: add a node with 'sink:' "
	    "(kafka, file or stdout)");
}

static int
wr_job_parse_all(wr_jp *p)
{
	const wr_yaml_node *sources = wr_yaml_map_get(p->root, "sources");
	const wr_yaml_node *nodes = wr_yaml_map_get(p->root, "nodes");
	int rc;

	if ((rc = wr_job_parse_top(p)) ||
	    (rc = wr_job_alloc_nodes(p, sources, nodes)) ||
	    (rc = wr_job_parse_sources(p, sources)) ||
	    (rc = wr_job_parse_tables(p, wr_yaml_map_get(p->root, "tables"))) ||
	    (rc = wr_job_parse_nodes(p, nodes)) ||
	    (rc = wr_job_check_sinks(p, nodes)) || (rc = wr_job_resolve(p)) ||
	    (rc = wr_job_check_tables(p)) || (rc = wr_job_order(p)))
		return rc;
	for (size_t i = p->nsources; i < p->spec->nnodes; i++)
		if ((rc = wr_job_type_node(p, i)))
			return rc;
	return wr_job_check_max_parallelism(p);
}

/* ---- entry points ------------------------------------------------------ */

int
wr_jobspec_parse(const char *name, const char *text, size_t len,
                 int parallelism_override, wr_jobspec **out, char *errbuf,
                 size_t errlen)
{
	wr_jp *p = wr_xcalloc(1, sizeof(*p));
	wr_jobspec *spec = wr_xcalloc(1, sizeof(*spec));
	wr_yaml_doc *doc = NULL;
	int rc;

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	spec->file = wr_xstrdup(name);
	spec->text = wr_xmalloc(len + 1);
	if (len > 0)
		memcpy(spec->text, text, len);
	spec->text[len] = '\0';
	*p = (wr_jp){.file = spec->file,
	             .text = spec->text,
	             .len = len,
	             .errbuf = errbuf,
	             .errlen = errlen,
	             .parallelism_override = parallelism_override,
	             .spec = spec};
	if (parallelism_override > WR_JOB_MAX_PARALLELISM ||
	    parallelism_override < 0) {
		snprintf(errbuf, errlen,
		         "%s: parallelism %d is outside 1 .. %d", name,
		         parallelism_override, WR_JOB_MAX_PARALLELISM);
		rc = WR_EINVAL;
		goto free_spec;
	}
	rc = wr_yaml_load_string(name, spec->text, len, &doc, errbuf, errlen);
	if (rc != WR_OK)
		goto free_spec;
	p->root = wr_yaml_root(doc);
	rc = wr_job_parse_all(p);
	wr_yaml_doc_free(doc);
	if (rc != WR_OK)
		goto free_spec;
	free(p);
	*out = spec;
	return WR_OK;
free_spec:
	wr_jobspec_free(spec);
	free(p);
	return rc;
}

int
wr_jobspec_load_file(const char *path, int parallelism_override,
                     wr_jobspec **out, char *errbuf, size_t errlen)
{
	wr_buf text;
	int rc;

	*out = NULL;
	wr_buf_init(&text);
	rc = wr_read_text_file(path, WR_YAML_MAX_FILE_BYTES, &text, errbuf,
	                       errlen);
	if (rc == WR_OK)
		rc =
		    wr_jobspec_parse(path, text.data, text.len,
		                     parallelism_override, out, errbuf, errlen);
	wr_buf_fini(&text);
	return rc;
}

int
wr_jobspec_find(const wr_jobspec *spec, const char *id)
{
	for (size_t i = 0; i < spec->nnodes; i++)
		if (strcmp(spec->nodes[i].id, id) == 0)
			return (int)i;
	return -1;
}

const wr_schema *
wr_jobspec_input_schema(const wr_jobspec *spec, const wr_node_spec *n, int k)
{
	const wr_node_spec *in = &spec->nodes[n->inputs[k]];

	/* A pattern's timeouts have its own output schema. The window's own
	 * input may be a side input too; inputs come first, so this ends. */
	if (n->input_side[k] && in->kind != WR_NODE_PATTERN)
		return wr_jobspec_input_schema(spec, in, 0);
	return &in->out;
}

static void
wr_job_node_fini(wr_node_spec *n)
{
	free(n->id);
	wr_schema_fini(&n->out);
	wr_expr_free(n->filter);
	for (size_t i = 0; i < n->nselect; i++) {
		free(n->select[i].name);
		wr_expr_free(n->select[i].expr);
	}
	free(n->select);
	for (size_t i = 0; i < n->naggs; i++)
		free(n->aggs[i].name);
	free(n->aggs);
	free(n->late_output);
	wr_job_pattern_fini(&n->pattern);
	free(n->sink.topic);
	free(n->sink.bootstrap);
	free(n->sink.path);
	free(n->sink.dsn);
	free(n->sink.table);
	free(n->sink.url);
	free(n->sink.user);
	free(n->sink.password_file);
	free(n->source.topic);
	free(n->source.bootstrap);
	free(n->source.group);
	free(n->source.path);
	free(n->source.dlq_topic);
	wr_schema_fini(&n->source.schema);
}

void
wr_jobspec_free(wr_jobspec *spec)
{
	if (spec == NULL)
		return;
	for (size_t i = 0; i < spec->nnodes; i++)
		wr_job_node_fini(&spec->nodes[i]);
	free(spec->nodes);
	free(spec->file);
	free(spec->text);
	free(spec->name);
	free(spec);
}
