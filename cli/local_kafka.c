/*
 * local_kafka.c - the embedded Kafka of `weir local`: librdkafka's mock
 * cluster, the forwarder thread on the bootstrap port, topic creation
 * and deletion (local_kafka.h).
 */
#include "local_kafka.h"
#include "local.h"

#include "addr.h"
#include "err.h"
#include "kafka.h"
#include "wr_limits.h"
#include "log.h"
#include "mem.h"

#include <librdkafka/rdkafka_mock.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes buffered per direction of a proxied connection. */
#define CLI_FWD_BUF_BYTES (64 * 1024)

typedef struct cli_fwd_dir {
	char buf[CLI_FWD_BUF_BYTES];
	size_t off, len;
} cli_fwd_dir;

typedef struct cli_fwd_conn {
	int fd[2];          /* 0 client, 1 broker */
	cli_fwd_dir dir[2]; /* dir[i]: bytes read from fd[i], to fd[1-i] */
} cli_fwd_conn;

struct cli_lkafka {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	char bootstrap[64];
	char *brokers;
	struct sockaddr_in target; /* the first broker */
	int listen_fd;
	int wake[2];
	pthread_t thread;
	cli_fwd_conn *conns[WR_LOCAL_FWD_MAX_CONNS];
	char *deleted[CLI_LOCAL_MAX_DELETED_TOPICS]; /* topic names */
	int ndeleted;
};

static void
cli_fwd_close(cli_lkafka *k, int i)
{
	cli_fwd_conn *c = k->conns[i];
	close(c->fd[0]);
	close(c->fd[1]);
	free(c);
	k->conns[i] = NULL;
}

static void
cli_fwd_accept(cli_lkafka *k)
{
	int cfd =
	    accept4(k->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	int slot = -1;
	for (int i = 0; i < WR_LOCAL_FWD_MAX_CONNS && slot < 0; i++)
		if (k->conns[i] == NULL)
			slot = i;
	int bfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (slot < 0 || bfd < 0 ||
	    connect(bfd, (struct sockaddr *)&k->target, sizeof(k->target)) !=
	        0) {
		wr_log(WR_LOG_WARN, "LOCAL-KAFKA-FORWARD",
		       "dropping a bootstrap connection: %s",
		       slot < 0 ? "too many connections" : strerror(errno));
		close(cfd);
		if (bfd >= 0)
			close(bfd);
		return;
	}
	fcntl(bfd, F_SETFL, fcntl(bfd, F_GETFL) | O_NONBLOCK);
	int one = 1;
	setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cli_fwd_conn *c = wr_xcalloc(1, sizeof(*c));
	c->fd[0] = cfd;
	c->fd[1] = bfd;
	k->conns[slot] = c;
}

/* Moves bytes one step in both directions. Returns false when the
 * connection is finished (either side closed or failed). */
static bool
cli_fwd_pump(cli_fwd_conn *c, const short *rev)
{
	for (int s = 0; s < 2; s++) {
		cli_fwd_dir *d = &c->dir[s];
		if ((rev[s] & (POLLIN | POLLHUP | POLLERR)) && d->len == 0) {
			ssize_t n = read(c->fd[s], d->buf, sizeof(d->buf));
			if (n == 0 ||
			    (n < 0 && errno != EAGAIN && errno != EINTR))
				return false;
			if (n > 0) {
				d->off = 0;
				d->len = (size_t)n;
			}
		}
		if (d->len > 0) {
			ssize_t n =
			    write(c->fd[1 - s], d->buf + d->off, d->len);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return false;
			if (n > 0) {
				d->off += (size_t)n;
				d->len -= (size_t)n;
			}
		}
	}
	return true;
}

static void *
cli_fwd_main(void *arg)
{
	cli_lkafka *k = arg;
	struct pollfd pfd[2 + 2 * WR_LOCAL_FWD_MAX_CONNS];
	int idx[WR_LOCAL_FWD_MAX_CONNS];
	for (;;) {
		int n = 0;
		pfd[n++] = (struct pollfd){.fd = k->wake[0], .events = POLLIN};
		pfd[n++] =
		    (struct pollfd){.fd = k->listen_fd, .events = POLLIN};
		for (int i = 0; i < WR_LOCAL_FWD_MAX_CONNS; i++) {
			cli_fwd_conn *c = k->conns[i];
			idx[i] = -1;
			if (c == NULL)
				continue;
			idx[i] = n;
			for (int s = 0; s < 2; s++)
				pfd[n++] = (struct pollfd){
				    .fd = c->fd[s],
				    .events =
				        (short)((c->dir[s].len == 0 ? POLLIN
				                                    : 0) |
				                (c->dir[1 - s].len ? POLLOUT
				                                   : 0))};
		}
		if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			cli_fwd_accept(k);
		for (int i = 0; i < WR_LOCAL_FWD_MAX_CONNS; i++) {
			if (idx[i] < 0 || k->conns[i] == NULL)
				continue;
			short rev[2] = {pfd[idx[i]].revents,
			                pfd[idx[i] + 1].revents};
			if ((rev[0] | rev[1]) &&
			    !cli_fwd_pump(k->conns[i], rev))
				cli_fwd_close(k, i);
		}
	}
	for (int i = 0; i < WR_LOCAL_FWD_MAX_CONNS; i++)
		if (k->conns[i] != NULL)
			cli_fwd_close(k, i);
	return NULL;
}

static int
cli_fwd_listen(cli_lkafka *k, int port, char *errbuf, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	k->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k->listen_fd < 0 ||
	    setsockopt(k->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	               sizeof(one)) != 0 ||
	    bind(k->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(k->listen_fd, 64) != 0) {
		int e = errno;
		snprintf(errbuf, errlen, "cannot listen on 127.0.0.1:%d: %s",
		         port, strerror(e));
		return wr_err_from_errno(e);
	}
	socklen_t sl = sizeof(sa);
	getsockname(k->listen_fd, (struct sockaddr *)&sa, &sl);
	snprintf(k->bootstrap, sizeof(k->bootstrap), "127.0.0.1:%d",
	         ntohs(sa.sin_port));
	return WR_OK;
}

/* Finds the first broker's address in the mock's bootstrap list. */
static int
cli_lkafka_target(cli_lkafka *k, char *errbuf, size_t errlen)
{
	char host[64], first[128];
	int port;
	snprintf(first, sizeof(first), "%s", k->brokers);
	char *comma = strchr(first, ',');
	if (comma)
		*comma = '\0';
	if (wr_addr_split(first, host, sizeof(host), &port) != WR_OK ||
	    inet_pton(AF_INET, host, &k->target.sin_addr) != 1) {
		snprintf(errbuf, errlen, "unexpected mock broker address '%s'",
		         first);
		return WR_EINTERNAL;
	}
	k->target.sin_family = AF_INET;
	k->target.sin_port = htons((uint16_t)port);
	return WR_OK;
}

int
cli_lkafka_start(int port, int brokers, cli_lkafka **out, char *errbuf,
                 size_t errlen)
{
	cli_lkafka *k = wr_xcalloc(1, sizeof(*k));
	int rv;
	k->listen_fd = -1;
	k->wake[0] = k->wake[1] = -1;
	rd_kafka_conf_t *conf = wr_kafka_conf_new(NULL);
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
	if (k->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		rv = WR_EINTERNAL;
		goto fail;
	}
	k->mc = rd_kafka_mock_cluster_new(k->rk, brokers);
	if (k->mc == NULL) {
		snprintf(errbuf, errlen, "cannot start the mock Kafka cluster");
		rv = WR_EINTERNAL;
		goto fail;
	}
	k->brokers = wr_xstrdup(rd_kafka_mock_cluster_bootstraps(k->mc));
	if ((rv = cli_lkafka_target(k, errbuf, errlen)) != WR_OK ||
	    (rv = cli_fwd_listen(k, port, errbuf, errlen)) != WR_OK)
		goto fail;
	if (pipe2(k->wake, O_CLOEXEC) != 0 ||
	    pthread_create(&k->thread, NULL, cli_fwd_main, k) != 0) {
		rv = wr_err_from_errno(errno);
		snprintf(errbuf, errlen, "cannot start the forwarder: %s",
		         wr_strerror(rv));
		goto fail;
	}
	*out = k;
	return WR_OK;
fail:
	if (k->wake[0] >= 0) {
		close(k->wake[0]);
		close(k->wake[1]);
	}
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	if (k->mc)
		rd_kafka_mock_cluster_destroy(k->mc);
	if (k->rk)
		rd_kafka_destroy(k->rk);
	free(k->brokers);
	free(k);
	return rv;
}

const char *
cli_lkafka_bootstrap(const cli_lkafka *k)
{
	return k->bootstrap;
}

const char *
cli_lkafka_brokers(const cli_lkafka *k)
{
	return k->brokers;
}

/* Whether name was deleted (the mock keeps it, with an error). */
static bool
cli_lkafka_deleted(const cli_lkafka *k, const char *name)
{
	for (int i = 0; i < k->ndeleted; i++)
		if (strcmp(k->deleted[i], name) == 0)
			return true;
	return false;
}

int
cli_lkafka_create_topic(cli_lkafka *k, const char *name, int partitions,
                        char *errbuf, size_t errlen)
{
	if (!cli_topic_name_ok(name, errbuf, errlen))
		return WR_EINVAL;
	if (partitions < 1 || partitions > CLI_TOPIC_MAX_PARTITIONS) {
		snprintf(errbuf, errlen,
		         "topic %s: partitions must be 1 .. %d, not %d", name,
		         CLI_TOPIC_MAX_PARTITIONS, partitions);
		return WR_EINVAL;
	}
	if (cli_lkafka_deleted(k, name)) {
		snprintf(errbuf, errlen,
		         "topic %s was deleted: the embedded Kafka cannot make "
		         "a topic of that name again until weir local restarts",
		         name);
		return WR_EEXIST;
	}
	rd_kafka_resp_err_t err =
	    rd_kafka_mock_topic_create(k->mc, name, partitions, 1);
	if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		snprintf(errbuf, errlen, "topic %s already exists", name);
		return WR_EEXIST;
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "topic %s: %s", name,
		         rd_kafka_err2str(err));
		return WR_EINVAL;
	}
	wr_log(WR_LOG_INFO, "LOCAL-TOPIC-CREATED", "%s partitions=%d", name,
	       partitions);
	return WR_OK;
}

/*
 * librdkafka's mock cluster cannot remove a topic: it answers for a
 * deleted one with UNKNOWN_TOPIC_OR_PART and no partitions, as Kafka does
 * for a topic that does not exist, and keeps its name taken.
 */
int
cli_lkafka_delete_topic(cli_lkafka *k, const char *name, char *errbuf,
                        size_t errlen)
{
	if (!cli_topic_name_ok(name, errbuf, errlen))
		return WR_EINVAL;
	if (cli_lkafka_deleted(k, name)) {
		snprintf(errbuf, errlen, "topic %s does not exist", name);
		return WR_ENOENT;
	}
	if (k->ndeleted == CLI_LOCAL_MAX_DELETED_TOPICS) {
		snprintf(errbuf, errlen,
		         "weir local deletes at most %d topics in its life",
		         CLI_LOCAL_MAX_DELETED_TOPICS);
		return WR_EFULL;
	}
	rd_kafka_mock_topic_set_error(k->mc, name,
	                              RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
	k->deleted[k->ndeleted++] = wr_xstrdup(name);
	wr_log(WR_LOG_INFO, "LOCAL-TOPIC-DELETED", "%s", name);
	return WR_OK;
}

void
cli_lkafka_poll(cli_lkafka *k)
{
	rd_kafka_poll(k->rk, 0);
}

void
cli_lkafka_stop(cli_lkafka *k)
{
	if (k == NULL)
		return;
	ssize_t w = write(k->wake[1], "x", 1);
	(void)w;
	pthread_join(k->thread, NULL);
	close(k->wake[0]);
	close(k->wake[1]);
	close(k->listen_fd);
	rd_kafka_mock_cluster_destroy(k->mc);
	rd_kafka_destroy(k->rk);
	for (int i = 0; i < k->ndeleted; i++)
		free(k->deleted[i]);
	free(k->brokers);
	free(k);
}
