/*
 * jmlink.c - the TaskManager's link to the JobManager: register, heartbeat
 * every interval, and register again when the JobManager restarts (its
 * instance id changes), forgets this TaskManager (known = false), or stays
 * silent for longer than the heartbeat timeout. Registration retries back
 * off from 100 ms to 2 s so a restarted JobManager sees its TaskManagers
 * again within a couple of seconds.
 *
 * Adoption and fencing: every registration and heartbeat reports the
 * running tasks; the answer says which the JobManager keeps and the others
 * are cancelled as orphans. Such a confirmed exchange opens the sinks
 * until its send time plus the heartbeat timeout; without one, sinks wait,
 * and after taskmanager.adoption_grace every task is cancelled.
 *
 * Given several JobManagers (HA), the link registers with the one that
 * leads: a standby's refusal names the leader ("the leader is ADDR"),
 * which it tries next at once; an unreachable one sends it to the next in
 * the list. A heartbeat to the leader that fails tries the others at once
 * (a new leader takes the registration; standbys refuse), so a takeover
 * does not wait for the heartbeat timeout. Task threads report to
 * whichever tm_jm_cli() is current.
 */
#include "tm_int.h"

#include "addr.h"
#include "clock.h"
#include "elector.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"
#include "tls.h"
#include "wr_limits.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Waits ms or until stop is requested. Returns true to go on. */
static bool
tm_link_wait(tm_server *tm, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&tm->link_mu);
	while (!atomic_load(&tm->stop) &&
	       pthread_cond_timedwait(&tm->link_cv, &tm->link_mu, &ts) !=
	           ETIMEDOUT)
		;
	pthread_mutex_unlock(&tm->link_mu);
	return !atomic_load(&tm->stop);
}

typedef struct tm_link {
	tm_jm_view jm;
	int64_t last_ok_ms;
	int64_t backoff_ms;
	unsigned failures;
	bool hb_failing;    /* the last heartbeat got no answer */
	int64_t hb_sent_ms; /* monotonic, the last heartbeat sent */
	tm_report rep;      /* the tasks of the exchange under way */
} tm_link;

bool
tm_sinks_open(tm_server *tm)
{
	return wr_mono_ms() < atomic_load(&tm->write_until_ms);
}

/* A JobManager that knows this TaskManager answered the exchange sent at
 * sent_ms: cancel the reported tasks it does not keep, then open the
 * sinks until it could declare this TaskManager lost (orphans first, so
 * none of them writes in between). */
static void
tm_link_confirmed(tm_server *tm, tm_link *l, int64_t sent_ms)
{
	for (int i = 0; i < l->rep.n; i++)
		if (!l->rep.keep[i])
			tm_tasks_orphan(tm->tasks, &l->rep.tasks[i]);
	atomic_store(&tm->confirmed_ms, sent_ms);
	int64_t until = sent_ms + l->jm.heartbeat_timeout_ms;
	if (until > atomic_load(&tm->write_until_ms))
		atomic_store(&tm->write_until_ms, until);
}

void
tm_link_grace(tm_server *tm)
{
	int64_t quiet = wr_mono_ms() - atomic_load(&tm->confirmed_ms);
	if (quiet <= tm->cfg.tm_adoption_grace_ms)
		return;
	int n = tm_tasks_orphan_all(tm->tasks);
	if (n > 0)
		wr_log(WR_LOG_WARN, "TM-ADOPTION-GRACE",
		       "no JobManager confirmed this TaskManager for %lld ms "
		       "(taskmanager.adoption_grace %lld ms): %d tasks "
		       "cancelled",
		       (long long)quiet,
		       (long long)tm->cfg.tm_adoption_grace_ms, n);
}

static void
tm_link_set_registered(tm_server *tm, bool on)
{
	atomic_store(&tm->registered, on);
	wr_metric_set(tm->m_registered, on ? 1 : 0);
}

/*
 * After a failed registration with several JobManagers: moves jm_cur to
 * the leader a standby named (true: try it at once) or to the next one.
 */
static bool
tm_link_follow(tm_server *tm, const char *err)
{
	size_t cur = atomic_load(&tm->jm_cur);
	const char *is = strstr(err, WR_ELECTOR_LEADER_IS);
	if (tm->n_jm < 2)
		return false;
	if (is != NULL) {
		is += strlen(WR_ELECTOR_LEADER_IS);
		char named[WR_ADDR_BYTES];
		snprintf(named, sizeof(named), "%.*s", (int)strcspn(is, " ;,"),
		         is);
		for (size_t i = 0; i < tm->n_jm; i++)
			if (i != cur && wr_addr_same(tm->jm_addrs[i], named)) {
				atomic_store(&tm->jm_cur, i);
				return true;
			}
	}
	atomic_store(&tm->jm_cur, (cur + 1) % tm->n_jm);
	return false;
}

/* A registration was answered (at send time sent): the JobManager v is
 * the one to heartbeat. */
static void
tm_link_registered(tm_server *tm, tm_link *l, const tm_jm_view *v, int64_t sent)
{
	l->jm = *v;
	l->last_ok_ms = wr_mono_ms();
	tm_link_confirmed(tm, l, sent);
	l->backoff_ms = TM_LINK_BACKOFF_MIN_MS;
	l->failures = 0;
	l->hb_failing = false;
	tm_link_set_registered(tm, true);
	wr_metric_inc(tm->m_registrations);
	wr_log(WR_LOG_INFO, "TM-REGISTERED",
	       "id=%s jobmanager=%s instance=%s heartbeat=%lldms/%lldms "
	       "tasks=%d",
	       tm->id, tm_jm_addr(tm), v->instance,
	       (long long)v->heartbeat_interval_ms,
	       (long long)v->heartbeat_timeout_ms, l->rep.n);
}

/*
 * HA: a heartbeat to the leader failed. Rather than wait out the
 * heartbeat timeout, asks the other JobManagers once each: a standby
 * refuses (its leader is still the one we have, or none yet), a new
 * leader takes the registration - the takeover then costs a heartbeat
 * interval, not a timeout. True when one took it.
 */
static bool
tm_link_probe(tm_server *tm, tm_link *l)
{
	size_t cur = atomic_load(&tm->jm_cur);
	for (size_t k = 1; k < tm->n_jm; k++) {
		char err[256] = "";
		tm_jm_view v;
		size_t i = (cur + k) % tm->n_jm;
		int64_t sent = wr_mono_ms();
		l->rep.n = tm_tasks_list(tm->tasks, l->rep.tasks, TM_MAX_TASKS);
		/* on its own client: task threads keep reporting to the
		 * current one unless this one leads */
		if (tm_rpc_register(tm, tm->jm_clis[i],
		                    TM_LINK_PROBE_TIMEOUT_MS, &l->rep, &v, err,
		                    sizeof(err)) == WR_OK) {
			atomic_store(&tm->jm_cur, i);
			tm_link_registered(tm, l, &v, sent);
			return true;
		}
	}
	return false;
}

static void
tm_link_register(tm_server *tm, tm_link *l)
{
	char err[256] = "";
	tm_jm_view v;
	int timeout = (int)tm->cfg.jm_heartbeat_interval_ms;
	int64_t sent = wr_mono_ms();
	l->rep.n = tm_tasks_list(tm->tasks, l->rep.tasks, TM_MAX_TASKS);
	int rv =
	    tm_rpc_register(tm, tm_jm_cli(tm), timeout < 500 ? 500 : timeout,
	                    &l->rep, &v, err, sizeof(err));
	if (rv == WR_OK) {
		tm_link_registered(tm, l, &v, sent);
		return;
	}
	/* Log the first failure and then every 10th: a JobManager that is
	 * down for a while should not flood the log. */
	if (l->failures++ % 10 == 0)
		wr_log(WR_LOG_WARN, "TM-REGISTER-FAILED",
		       "jobmanager=%s: %s%s%s%s (retrying)", tm_jm_addr(tm),
		       wr_strerror(rv), err[0] ? ": " : "", err,
		       /* nng retries a refused handshake in the background:
		        * the call only sees no reply */
		       rv == WR_ETIMEDOUT && wr_tls_on()
		           ? "; with TLS, also what a failed handshake looks "
		             "like: check both sides' security.tls (each "
		             "certificate signed by the other's ca)"
		           : "");
	if (tm_link_follow(tm, err))
		return;
	tm_link_wait(tm, l->backoff_ms);
	l->backoff_ms *= 2;
	if (l->backoff_ms > TM_LINK_BACKOFF_MAX_MS)
		l->backoff_ms = TM_LINK_BACKOFF_MAX_MS;
}

static void
tm_link_heartbeat(tm_server *tm, tm_link *l)
{
	/* After a failure, sooner: a takeover is found a retry, not an
	 * interval, after the new leader is elected. */
	int64_t wait = l->jm.heartbeat_interval_ms;
	if (l->hb_failing && wait > TM_LINK_HB_RETRY_MS)
		wait = TM_LINK_HB_RETRY_MS;
	if (!tm_link_wait(tm, wait))
		return;
	/* The leader did not answer last time: a new one may be there. Ask
	 * the others every retry, the leader itself only every interval
	 * (each call to it may wait out its timeout). */
	if (l->hb_failing && tm->n_jm >= 2) {
		if (tm_link_probe(tm, l) ||
		    wr_mono_ms() - l->hb_sent_ms < l->jm.heartbeat_interval_ms)
			return;
	}
	char err[256] = "";
	tm_jm_view v;
	/* an interval, at least the probe's timeout; while the leader does
	 * not answer, only that (the next try comes sooner) */
	int timeout = (int)l->jm.heartbeat_interval_ms;
	if (timeout < TM_LINK_PROBE_TIMEOUT_MS ||
	    (l->hb_failing && tm->n_jm >= 2))
		timeout = TM_LINK_PROBE_TIMEOUT_MS;
	int64_t sent = wr_mono_ms();
	l->hb_sent_ms = sent;
	l->rep.n = tm_tasks_list(tm->tasks, l->rep.tasks, TM_MAX_TASKS);
	int rv = tm_rpc_heartbeat(tm, tm_jm_cli(tm), timeout, &l->rep, &v, err,
	                          sizeof(err));
	int64_t now = wr_mono_ms();
	l->hb_failing = rv != WR_OK;
	if (rv == WR_OK) {
		l->last_ok_ms = now;
		/* Tasks keep running until a registration answers for them. */
		/* TM-JM-CHANGED only when another JobManager answers; the
		 * same one forgetting this TaskManager is another event. */
		if (strcmp(v.instance, l->jm.instance) != 0) {
			wr_log(WR_LOG_WARN, "TM-JM-CHANGED",
			       "jobmanager %s is instance %s, was %s: "
			       "registering again",
			       tm_jm_addr(tm), v.instance, l->jm.instance);
			tm_link_set_registered(tm, false);
			return;
		}
		if (!v.known) {
			wr_log(WR_LOG_WARN, "TM-JM-FORGOT",
			       "jobmanager %s (instance %s) does not know this "
			       "TaskManager: registering again",
			       tm_jm_addr(tm), v.instance);
			tm_link_set_registered(tm, false);
			return;
		}
		tm_link_confirmed(tm, l, sent);
		return;
	}
	wr_metric_inc(tm->m_hb_failures);
	if (tm->n_jm >= 2 && tm_link_probe(tm, l))
		return;
	now = wr_mono_ms();
	if (now - l->last_ok_ms > l->jm.heartbeat_timeout_ms) {
		wr_log(WR_LOG_WARN, "TM-JM-LOST",
		       "no heartbeat reply from %s for %lld ms (%s%s%s): "
		       "registering again",
		       tm_jm_addr(tm), (long long)(now - l->last_ok_ms),
		       wr_strerror(rv), err[0] ? ": " : "", err);
		tm_link_set_registered(tm, false);
	}
}

static void *
tm_link_main(void *arg)
{
	tm_server *tm = arg;
	tm_link l;
	memset(&l, 0, sizeof(l));
	l.backoff_ms = TM_LINK_BACKOFF_MIN_MS;
	while (!atomic_load(&tm->stop)) {
		if (!atomic_load(&tm->registered))
			tm_link_register(tm, &l);
		else
			tm_link_heartbeat(tm, &l);
	}
	return NULL;
}

int
tm_link_start(tm_server *tm)
{
	pthread_mutex_init(&tm->link_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tm->link_cv, &ca);
	pthread_condattr_destroy(&ca);
	int rv = pthread_create(&tm->link, NULL, tm_link_main, tm);
	return rv == 0 ? WR_OK : wr_err_from_errno(rv);
}

void
tm_link_stop(tm_server *tm)
{
	pthread_mutex_lock(&tm->link_mu);
	atomic_store(&tm->stop, true);
	pthread_cond_broadcast(&tm->link_cv);
	pthread_mutex_unlock(&tm->link_mu);
	pthread_join(tm->link, NULL);
	pthread_cond_destroy(&tm->link_cv);
	pthread_mutex_destroy(&tm->link_mu);
}
