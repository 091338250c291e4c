/*
 * metrics.c - the registry of counters and gauges and its Prometheus text
 * exposition (metrics.h).
 */
#include "metrics.h"

#include "clock.h"
#include "mem.h"
#include "wr_assert.h"

#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wr_metric_family;

/* The bits of a series without a value: a NaN no arithmetic produces (they
 * make the default quiet NaN), so a set NaN still renders. */
#define WR_METRIC_UNSET 0x7ff8dead00000000ull

struct wr_metric {
	/* The double's bits: C11 has no portable atomic double with a
	 * lock-free add, so add is a CAS loop on the bit pattern. */
	_Atomic uint64_t bits;
	struct wr_metric_family *fam;
	/* The rendered, escaped label set ("{a=\"x\"}" or ""). It is also
	 * the series' identity within its family: equal labels render
	 * equally, so lookups compare this string. */
	char *labels;
	/* Holders (wr_metrics_get calls not yet released); at 0 the series
	 * goes once the monotonic clock passes expire_ms. @locks reg. */
	unsigned long refs;
	int64_t expire_ms;
	struct wr_metric *next;
};

struct wr_metric_family {
	char *name;
	char *help;
	enum wr_metric_type type;
	/* Series in creation order, so the exposition is stable. */
	struct wr_metric *head, **tailp;
	struct wr_metric_family *next;
};

struct wr_metrics {
	pthread_mutex_t lock;
	struct wr_metric_family *head, **tailp;
	void (*collect_fn)(void *arg);
	void *collect_arg;
};

static const char *const wr_metrics_type_names[] = {
    [WR_METRIC_COUNTER] = "counter",
    [WR_METRIC_GAUGE] = "gauge",
};

wr_metrics *
wr_metrics_new(void)
{
	wr_metrics *reg = wr_xcalloc(1, sizeof(*reg));
	WR_ASSERT(pthread_mutex_init(&reg->lock, NULL) == 0);
	reg->tailp = &reg->head;
	return reg;
}

static void
wr_metrics_series_free(struct wr_metric *m)
{
	free(m->labels);
	free(m);
}

void
wr_metrics_free(wr_metrics *reg)
{
	if (reg == NULL)
		return;
	struct wr_metric_family *f = reg->head;
	while (f != NULL) {
		struct wr_metric_family *fnext = f->next;
		struct wr_metric *m = f->head;
		while (m != NULL) {
			struct wr_metric *mnext = m->next;
			wr_metrics_series_free(m);
			m = mnext;
		}
		free(f->name);
		free(f->help);
		free(f);
		f = fnext;
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

/* Prometheus data model: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*,
 * label names [a-zA-Z_][a-zA-Z0-9_]* (colons are for recording rules). */
static int
wr_metrics_name_ok(const char *s, int allow_colon)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (const char *p = s; *p != '\0'; p++) {
		char c = *p;
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            c == '_' || (allow_colon && c == ':');
		int digit = c >= '0' && c <= '9';
		if (!alpha && !(digit && p != s))
			return 0;
	}
	return 1;
}

/* Label names starting with "__" are reserved for Prometheus itself. */
static int
wr_metrics_label_name_ok(const char *s)
{
	return wr_metrics_name_ok(s, 0) && strncmp(s, "__", 2) != 0;
}

/* Escapes for the exposition: label values escape backslash, quote and
 * newline; HELP text escapes only backslash and newline. */
static void
wr_metrics_escape(wr_buf *out, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			wr_buf_puts(out, "\\\\");
		else if (*s == '\n')
			wr_buf_puts(out, "\\n");
		else if (quote && *s == '"')
			wr_buf_puts(out, "\\\"");
		else
			wr_buf_putc(out, *s);
	}
}

/* Renders labels to their exposition form; validates the names. */
static char *
wr_metrics_labels_render(const char *const *labels)
{
	wr_buf b;
	wr_buf_init(&b);
	if (labels == NULL || labels[0] == NULL)
		return wr_buf_steal(&b);
	wr_buf_putc(&b, '{');
	for (size_t i = 0; labels[i] != NULL; i += 2) {
		WR_ASSERT(wr_metrics_label_name_ok(labels[i]));
		WR_ASSERT(labels[i + 1] != NULL); /* names and values pair up */
		if (i > 0)
			wr_buf_putc(&b, ',');
		wr_buf_puts(&b, labels[i]);
		wr_buf_puts(&b, "=\"");
		wr_metrics_escape(&b, labels[i + 1], 1);
		wr_buf_putc(&b, '"');
	}
	wr_buf_putc(&b, '}');
	return wr_buf_steal(&b);
}

/* @locks reg->lock held. */
static struct wr_metric_family *
wr_metrics_family(wr_metrics *reg, enum wr_metric_type type, const char *name,
                  const char *help)
{
	struct wr_metric_family *f;
	for (f = reg->head; f != NULL; f = f->next) {
		if (strcmp(f->name, name) == 0) {
			/* One name, two types: two call sites disagree. */
			WR_ASSERT(f->type == type);
			return f;
		}
	}
	f = wr_xcalloc(1, sizeof(*f));
	f->name = wr_xstrdup(name);
	f->help = wr_xstrdup(help != NULL ? help : "");
	f->type = type;
	f->tailp = &f->head;
	*reg->tailp = f;
	reg->tailp = &f->next;
	return f;
}

static wr_metric *
wr_metrics_lookup(wr_metrics *reg, enum wr_metric_type type, const char *name,
                  const char *help, const char *const *labels, bool empty)
{
	WR_ASSERT(type == WR_METRIC_COUNTER || type == WR_METRIC_GAUGE);
	WR_ASSERT(wr_metrics_name_ok(name, 1));
	/* Render outside the lock: it allocates and asserts. */
	char *lstr = wr_metrics_labels_render(labels);

	pthread_mutex_lock(&reg->lock);
	struct wr_metric_family *f = wr_metrics_family(reg, type, name, help);
	struct wr_metric *m;
	for (m = f->head; m != NULL; m = m->next)
		if (strcmp(m->labels, lstr) == 0)
			break;
	if (m == NULL) {
		m = wr_xcalloc(1, sizeof(*m));
		/* 0.0 is all-zero bits */
		atomic_init(&m->bits, empty ? WR_METRIC_UNSET : 0);
		m->fam = f;
		m->labels = lstr;
		lstr = NULL;
		*f->tailp = m;
		f->tailp = &m->next;
	}
	m->refs++;
	pthread_mutex_unlock(&reg->lock);
	free(lstr);
	return m;
}

wr_metric *
wr_metrics_get(wr_metrics *reg, enum wr_metric_type type, const char *name,
               const char *help, const char *const *labels)
{
	return wr_metrics_lookup(reg, type, name, help, labels, false);
}

wr_metric *
wr_metrics_get_empty(wr_metrics *reg, enum wr_metric_type type,
                     const char *name, const char *help,
                     const char *const *labels)
{
	return wr_metrics_lookup(reg, type, name, help, labels, true);
}

/* Unlinks m from its family. @locks reg->lock held. */
static void
wr_metrics_unlink(struct wr_metric *m)
{
	struct wr_metric_family *f = m->fam;
	struct wr_metric **pp = &f->head;
	while (*pp != NULL && *pp != m)
		pp = &(*pp)->next;
	WR_ASSERT(*pp == m); /* m belongs to reg and was not removed */
	*pp = m->next;
	if (f->tailp == &m->next)
		f->tailp = pp;
}

/* Frees the released series whose grace period is over. No holder has a
 * pointer to them, so freeing is safe. @locks reg->lock held. */
static void
wr_metrics_sweep(wr_metrics *reg, int64_t now_ms)
{
	for (struct wr_metric_family *f = reg->head; f != NULL; f = f->next) {
		struct wr_metric *m = f->head, *next;
		for (; m != NULL; m = next) {
			next = m->next;
			if (m->refs > 0 || now_ms < m->expire_ms)
				continue;
			wr_metrics_unlink(m);
			wr_metrics_series_free(m);
		}
	}
}

void
wr_metrics_release(wr_metrics *reg, wr_metric *m, int64_t grace_ms)
{
	if (m == NULL)
		return;
	int64_t now = wr_mono_ms();
	pthread_mutex_lock(&reg->lock);
	WR_ASSERT(m->refs > 0);
	if (--m->refs == 0)
		m->expire_ms = now + grace_ms;
	wr_metrics_sweep(reg, now);
	pthread_mutex_unlock(&reg->lock);
}

void
wr_metrics_remove(wr_metrics *reg, wr_metric *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&reg->lock);
	wr_metrics_unlink(m);
	pthread_mutex_unlock(&reg->lock);
	wr_metrics_series_free(m);
}

static uint64_t
wr_metric_to_bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u;
}

static double
wr_metric_from_bits(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

void
wr_metric_add(wr_metric *m, double by)
{
	if (m == NULL)
		return;
	/* A counter that went down reads as a restart to Prometheus. */
	if (m->fam->type == WR_METRIC_COUNTER)
		WR_ASSERT(by >= 0);
	uint64_t old = atomic_load_explicit(&m->bits, memory_order_relaxed);
	uint64_t new;
	do {
		double cur =
		    old == WR_METRIC_UNSET ? 0 : wr_metric_from_bits(old);
		new = wr_metric_to_bits(cur + by);
	} while (!atomic_compare_exchange_weak_explicit(
	    &m->bits, &old, new, memory_order_relaxed, memory_order_relaxed));
}

void
wr_metric_inc(wr_metric *m)
{
	wr_metric_add(m, 1.0);
}

void
wr_metric_set(wr_metric *m, double v)
{
	if (m == NULL)
		return;
	atomic_store_explicit(&m->bits, wr_metric_to_bits(v),
	                      memory_order_relaxed);
}

double
wr_metric_value(const wr_metric *m)
{
	return wr_metric_from_bits(
	    atomic_load_explicit(&m->bits, memory_order_relaxed));
}

void
wr_metrics_on_collect(wr_metrics *reg, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&reg->lock);
	reg->collect_fn = fn;
	reg->collect_arg = arg;
	pthread_mutex_unlock(&reg->lock);
}

/* Prometheus spells the specials NaN, +Inf and -Inf; integral values print
 * without a fraction so counters read naturally; other values use the
 * shortest %g form that reads back to the same double. */
static void
wr_metrics_put_value(wr_buf *out, double v)
{
	if (isnan(v)) {
		wr_buf_puts(out, "NaN");
	} else if (isinf(v)) {
		wr_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
	} else if (v == 0) {
		wr_buf_puts(out, "0"); /* also -0, which would print "-0" */
	} else if (v == trunc(v) && fabs(v) < 1e15) {
		wr_buf_printf(out, "%.0f", v);
	} else {
		char tmp[32];
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
		wr_buf_puts(out, tmp);
	}
}

/* @locks reg->lock held. */
static void
wr_metrics_render_family(const struct wr_metric_family *f, wr_buf *out)
{
	const struct wr_metric *m = f->head;
	while (m != NULL &&
	       atomic_load_explicit(&m->bits, memory_order_relaxed) ==
	           WR_METRIC_UNSET)
		m = m->next;
	if (m == NULL)
		return; /* no series has a value: say nothing about the family
		         */
	wr_buf_printf(out, "# HELP %s", f->name);
	if (f->help[0] != '\0') {
		wr_buf_putc(out, ' ');
		wr_metrics_escape(out, f->help, 0);
	}
	wr_buf_printf(out, "\n# TYPE %s %s\n", f->name,
	              wr_metrics_type_names[f->type]);
	for (; m != NULL; m = m->next) {
		if (atomic_load_explicit(&m->bits, memory_order_relaxed) ==
		    WR_METRIC_UNSET)
			continue;
		wr_buf_puts(out, f->name);
		wr_buf_puts(out, m->labels);
		wr_buf_putc(out, ' ');
		wr_metrics_put_value(out, wr_metric_value(m));
		wr_buf_putc(out, '\n');
	}
}

void
wr_metrics_render(wr_metrics *reg, wr_buf *out)
{
	pthread_mutex_lock(&reg->lock);
	void (*fn)(void *) = reg->collect_fn;
	void *arg = reg->collect_arg;
	pthread_mutex_unlock(&reg->lock);
	/* Without the lock: the callback sets gauges, and may itself look
	 * series up with wr_metrics_get. */
	if (fn != NULL)
		fn(arg);

	int64_t now = wr_mono_ms();
	pthread_mutex_lock(&reg->lock);
	wr_metrics_sweep(reg, now);
	for (const struct wr_metric_family *f = reg->head; f != NULL;
	     f = f->next)
		wr_metrics_render_family(f, out);
	pthread_mutex_unlock(&reg->lock);
}
