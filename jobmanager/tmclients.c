/*
 * tmclients.c - the JobManager's calls to TaskManagers (tmclients.h).
 *
 * A bounded pool of threads rather than nng aio on wr_rpc_client: the
 * synchronous wr_rpc_call is already thread-safe and bounded by its
 * timeout, and the pool gives per-TaskManager order for free - a
 * TaskManager's calls form one FIFO and at most one thread serves it at a
 * time, so a CancelTask queued after a DeployTask reaches the TaskManager
 * after it (the cancel of a task whose deploy timed out relies on that).
 * With aio, each call would need a send -> receive state machine in
 * common/net, its own sequencing per TaskManager and cancellation at
 * shutdown. A TaskManager that does not answer holds one thread for one
 * timeout; the calls behind it that may skip it (fail_fast) then fail at
 * once. Every call queued or in flight holds one of JM_TMC_MAX_CALLS
 * places until the loop drained its completion, so the completion queue
 * cannot overflow.
 */
#include "tmclients.h"

#include "jm_int.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "rpc.h"
#include "wr_assert.h"
#include "weir.pb-c.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jm_tmc_call {
	struct jm_tmc_call *next;
	jm_call_done d; /* ref filled at send, the rest by the thread */
	uint8_t *env;   /* packed Envelope */
	size_t len;
	int timeout_ms;
	bool fail_fast;
} jm_tmc_call;

typedef struct jm_tmc_client {
	char address[WR_ADDR_BYTES];
	wr_rpc_client *cli;
	jm_tmc_call *head, *tail; /* @locks tmc->mu */
	bool busy;                /* a thread serves it; @locks tmc->mu */
} jm_tmc_client;

struct jm_tmc {
	jm_tmreg *tms;
	void (*wake)(void *arg);
	void *wake_arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* @locks mu */
	jm_tmc_client *clients;
	size_t nclients, cap;
	size_t rr; /* where threads look for work first */
	jm_tmc_call *done_head, *done_tail;
	size_t outstanding; /* queued, in flight or done, not drained */
	bool stop;
	pthread_t threads[JM_TMC_WORKERS];
	int nthreads;
};

bool
jm_tm_no_answer(int rv)
{
	return rv == WR_ETIMEDOUT || rv == WR_EUNREACHABLE ||
	       rv == WR_ECONNREFUSED;
}

static void
jm_tmc_call_free(jm_tmc_call *c)
{
	free(c->env);
	free(c);
}

/* Makes one call. @thread a call thread, without tmc->mu */
static void
jm_tmc_make_call(jm_tmc *tmc, jm_tmc_client *cl, jm_tmc_call *c)
{
	jm_call_done *d = &c->d;
	if (c->fail_fast &&
	    !jm_tmreg_responsive(tmc->tms, d->ref.tm_id, 0, 0)) {
		d->rv = WR_EUNREACHABLE;
		snprintf(d->err, sizeof(d->err),
		         "not called: an earlier call got no answer");
		return;
	}
	Weir__Envelope *env = weir__envelope__unpack(NULL, c->len, c->env);
	if (env == NULL) { /* packed by us: cannot happen short of memory */
		d->rv = WR_EINTERNAL;
		snprintf(d->err, sizeof(d->err), "cannot unpack the request");
		return;
	}
	wr_msg *rep = NULL;
	d->called = true;
	d->rv = wr_rpc_call(cl->cli, env, c->timeout_ms, &rep, d->err,
	                    sizeof(d->err));
	wr_msg_free(rep);
	weir__envelope__free_unpacked(env, NULL);
	if (jm_tm_no_answer(d->rv))
		jm_tmreg_set_unreachable(tmc->tms, d->ref.tm_id);
}

/* A client with a queued call nobody serves, or NULL. @locks tmc->mu */
static jm_tmc_client *
jm_tmc_next_client(jm_tmc *tmc)
{
	for (size_t k = 0; k < tmc->nclients; k++) {
		size_t i = (tmc->rr + k) % tmc->nclients;
		jm_tmc_client *cl = &tmc->clients[i];
		if (cl->head != NULL && !cl->busy) {
			tmc->rr = i + 1;
			return cl;
		}
	}
	return NULL;
}

static void *
jm_tmc_thread(void *arg)
{
	jm_tmc *tmc = arg;
	pthread_mutex_lock(&tmc->mu);
	while (!tmc->stop) {
		jm_tmc_client *cl = jm_tmc_next_client(tmc);
		if (cl == NULL) {
			pthread_cond_wait(&tmc->cv, &tmc->mu);
			continue;
		}
		jm_tmc_call *c = cl->head;
		cl->head = c->next;
		if (cl->head == NULL)
			cl->tail = NULL;
		cl->busy = true;
		/* clients only grow while threads run: cl stays valid (the
		 * array is allocated at full size) */
		pthread_mutex_unlock(&tmc->mu);
		jm_tmc_make_call(tmc, cl, c);
		pthread_mutex_lock(&tmc->mu);
		cl->busy = false;
		c->next = NULL;
		if (tmc->done_tail != NULL)
			tmc->done_tail->next = c;
		else
			tmc->done_head = c;
		tmc->done_tail = c;
		pthread_cond_signal(&tmc->cv); /* cl may have more */
		pthread_mutex_unlock(&tmc->mu);
		if (tmc->wake != NULL)
			tmc->wake(tmc->wake_arg);
		pthread_mutex_lock(&tmc->mu);
	}
	pthread_mutex_unlock(&tmc->mu);
	return NULL;
}

jm_tmc *
jm_tmc_new(jm_tmreg *tms, void (*wake)(void *arg), void *wake_arg)
{
	jm_tmc *tmc = wr_xcalloc(1, sizeof(*tmc));
	tmc->tms = tms;
	tmc->wake = wake;
	tmc->wake_arg = wake_arg;
	pthread_mutex_init(&tmc->mu, NULL);
	pthread_cond_init(&tmc->cv, NULL);
	/* at full size: the threads keep pointers into it */
	tmc->cap = JM_MAX_TM_CLIENTS;
	tmc->clients = wr_xcalloc(tmc->cap, sizeof(jm_tmc_client));
	for (int i = 0; i < JM_TMC_WORKERS; i++) {
		if (pthread_create(&tmc->threads[i], NULL, jm_tmc_thread,
		                   tmc) != 0)
			break;
		tmc->nthreads++;
	}
	WR_ASSERT(tmc->nthreads > 0); /* no thread: nothing would be called */
	return tmc;
}

static void
jm_tmc_free_list(jm_tmc_call *c)
{
	while (c != NULL) {
		jm_tmc_call *next = c->next;
		jm_tmc_call_free(c);
		c = next;
	}
}

void
jm_tmc_free(jm_tmc *tmc)
{
	if (tmc == NULL)
		return;
	pthread_mutex_lock(&tmc->mu);
	tmc->stop = true;
	pthread_cond_broadcast(&tmc->cv);
	pthread_mutex_unlock(&tmc->mu);
	for (int i = 0; i < tmc->nthreads; i++)
		pthread_join(tmc->threads[i], NULL);
	for (size_t i = 0; i < tmc->nclients; i++) {
		jm_tmc_free_list(tmc->clients[i].head);
		wr_rpc_client_free(tmc->clients[i].cli);
	}
	jm_tmc_free_list(tmc->done_head);
	free(tmc->clients);
	pthread_cond_destroy(&tmc->cv);
	pthread_mutex_destroy(&tmc->mu);
	free(tmc);
}

/* The client of address, created on first use. @locks tmc->mu */
static jm_tmc_client *
jm_tmc_client_get(jm_tmc *tmc, const char *address)
{
	for (size_t i = 0; i < tmc->nclients; i++)
		if (strcmp(tmc->clients[i].address, address) == 0)
			return &tmc->clients[i];
	if (tmc->nclients == tmc->cap)
		return NULL;
	wr_rpc_client *cli;
	if (wr_rpc_client_new(address, 0, &cli) != WR_OK)
		return NULL;
	jm_tmc_client *cl = &tmc->clients[tmc->nclients++];
	snprintf(cl->address, sizeof(cl->address), "%s", address);
	cl->cli = cli;
	return cl;
}

int
jm_tmc_send(jm_tmc *tmc, const char *address, const jm_call_ref *ref,
            Weir__Envelope *env, int timeout_ms, bool fail_fast)
{
	jm_tmc_call *c = wr_xcalloc(1, sizeof(*c));
	c->d.ref = *ref;
	c->timeout_ms = timeout_ms;
	c->fail_fast = fail_fast;
	/* Stamped here, when the loop decides the call, not when a thread
	 * makes it: a call decided under an epoch carries that epoch. */
	env->has_epoch = ref->epoch != 0;
	env->epoch = ref->epoch;
	c->len = weir__envelope__get_packed_size(env);
	c->env = wr_xmalloc(c->len ? c->len : 1);
	weir__envelope__pack(env, c->env);
	int rv = WR_OK;
	pthread_mutex_lock(&tmc->mu);
	jm_tmc_client *cl = tmc->outstanding < JM_TMC_MAX_CALLS
	                        ? jm_tmc_client_get(tmc, address)
	                        : NULL;
	if (cl == NULL) {
		rv = tmc->outstanding < JM_TMC_MAX_CALLS ? WR_EUNREACHABLE
		                                         : WR_EFULL;
		pthread_mutex_unlock(&tmc->mu);
		jm_tmc_call_free(c);
		return rv;
	}
	tmc->outstanding++;
	if (cl->tail != NULL)
		cl->tail->next = c;
	else
		cl->head = c;
	cl->tail = c;
	pthread_cond_signal(&tmc->cv);
	pthread_mutex_unlock(&tmc->mu);
	return rv;
}

size_t
jm_tmc_drain(jm_tmc *tmc, void (*fn)(void *arg, const jm_call_done *d),
             void *arg)
{
	pthread_mutex_lock(&tmc->mu);
	jm_tmc_call *c = tmc->done_head;
	tmc->done_head = tmc->done_tail = NULL;
	pthread_mutex_unlock(&tmc->mu);
	size_t n = 0;
	while (c != NULL) {
		jm_tmc_call *next = c->next;
		fn(arg, &c->d);
		jm_tmc_call_free(c);
		c = next;
		n++;
	}
	if (n > 0) {
		pthread_mutex_lock(&tmc->mu);
		tmc->outstanding -= n;
		pthread_mutex_unlock(&tmc->mu);
	}
	return n;
}

void
jm_tm_call_failed(const jm_call_done *d)
{
	if (d->called && jm_tm_no_answer(d->rv))
		wr_log(WR_LOG_WARN, "TM-UNREACHABLE",
		       "%s did not answer (%s): not called again before its "
		       "next heartbeat",
		       d->ref.tm_id, wr_strerror(d->rv));
}

bool
jm_tm_reachable(jm_server *jm, const char *tm_id)
{
	return jm_tmreg_responsive(jm->tms, tm_id, 0, 0);
}

bool
jm_tm_responsive(jm_server *jm, const char *tm_id)
{
	return jm_tmreg_responsive(jm->tms, tm_id, wr_mono_ms(),
	                           2 * jm->cfg.jm_heartbeat_interval_ms + 200);
}
