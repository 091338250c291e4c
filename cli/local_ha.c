/*
 * local_ha.c - the pieces of `weir local --jobmanagers N`: free loopback
 * ports for the extra JobManagers and etcd, the embedded single-member etcd
 * (Debian's etcd-server, data in DIR/etcd), and DIR/weir.env, which points
 * a shell's weir at the cluster.
 */
#include "cli.h"
#include "local.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "etcd.h"
#include "fsutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* True when port is free on loopback now (a listener could bind it). */
static bool
cli_local_port_free(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* The first port of the kernel's ephemeral range (what bind(0) and
 * outgoing connections take from). */
static int
cli_local_ephemeral_low(void)
{
	int lo = 32768, hi;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f != NULL) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

int
cli_local_free_port(cli_local_ports *p)
{
	static uint64_t seed;
	if (p->n == CLI_LOCAL_MAX_PORTS)
		return -1;
	if (seed == 0)
		seed =
		    (uint64_t)wr_mono_ms() * 2654435761u ^ (uint64_t)getpid();
	int hi = cli_local_ephemeral_low();
	int lo = hi - 12000 > 1024 ? hi - 12000 : 1024;
	for (int tries = 0; tries < 200 && hi > lo; tries++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		int port = lo + (int)(seed % (uint64_t)(hi - lo));
		bool taken = false;
		for (int i = 0; i < p->n; i++)
			taken |= p->v[i] == port;
		if (!taken && cli_local_port_free(port)) {
			p->v[p->n++] = port;
			return port;
		}
	}
	return -1;
}

/* The path of name in PATH, else /usr/bin/name (Debian's place for it).
 * False when neither is executable. */
static bool
cli_local_which(const char *name, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	while (path != NULL && *path != '\0') {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		snprintf(out, outlen, "%.*s/%s", (int)len, path, name);
		if (len > 0 && access(out, X_OK) == 0)
			return true;
		path = end ? end + 1 : NULL;
	}
	snprintf(out, outlen, "/usr/bin/%s", name);
	return access(out, X_OK) == 0;
}

/* Polls etcd until it answers a read (bounded), or it exits, or stop. */
static int
cli_local_etcd_wait(cli_child *c, const char *url, volatile sig_atomic_t *stop)
{
	char err[256];
	wr_etcd *e = NULL;
	int64_t deadline = wr_mono_ms() + CLI_LOCAL_ETCD_STARTUP_MS;
	if (wr_etcd_new(url, 500, &e, err, sizeof(err)) != WR_OK) {
		fprintf(stderr, "weir local: etcd at %s: %s\n", url, err);
		return CLI_FAILED;
	}
	int rc = CLI_FAILED;
	while (!*stop) {
		wr_etcd_kv kv = {0};
		int rv = wr_etcd_get(e, "/weir/", &kv);
		wr_etcd_kv_fini(&kv);
		if (rv == WR_OK || rv == WR_ENOENT) {
			rc = CLI_OK;
			break;
		}
		int status;
		if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
			c->pid = 0;
			fprintf(stderr,
			        "weir local: etcd exited before it answered; "
			        "see %s\n",
			        c->log);
			break;
		}
		if (wr_mono_ms() > deadline) {
			fprintf(stderr,
			        "weir local: etcd did not answer at %s within "
			        "%d s; see %s\n",
			        url, CLI_LOCAL_ETCD_STARTUP_MS / 1000, c->log);
			break;
		}
		wr_sleep_ms(100);
	}
	wr_etcd_free(e);
	return rc;
}

int
cli_local_etcd_start(const char *dir, cli_local_ports *p, cli_child *c,
                     char *url, size_t urllen, volatile sig_atomic_t *stop)
{
	char bin[PATH_MAX], data[PATH_MAX], purl[64], initial[96];
	if (!cli_local_which("etcd", bin, sizeof(bin))) {
		fprintf(stderr,
		        "weir local: --jobmanagers needs etcd, and there is no "
		        "etcd in PATH or /usr/bin: install Debian's "
		        "etcd-server package (apt-get install etcd-server)\n");
		return CLI_FAILED;
	}
	int cport = cli_local_free_port(p), pport = cli_local_free_port(p);
	if (cport < 0 || pport < 0) {
		fprintf(stderr, "weir local: no free loopback port for etcd\n");
		return CLI_FAILED;
	}
	snprintf(url, urllen, "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(initial, sizeof(initial), "weir-local=%s", purl);
	snprintf(data, sizeof(data), "%s/etcd", dir);
	/* The data dir outlives a restart of weir local (the job store is
	 * in it); etcd then keeps its membership and takes the new URLs. */
	char *argv[] = {bin,          "--name",
	                "weir-local", "--data-dir",
	                data,         "--listen-client-urls",
	                url,          "--advertise-client-urls",
	                url,          "--listen-peer-urls",
	                purl,         "--initial-advertise-peer-urls",
	                purl,         "--initial-cluster",
	                initial,      NULL};
	if (cli_local_spawn_argv(dir, c, "etcd", argv) != 0) {
		fprintf(stderr, "weir local: cannot start %s\n", bin);
		return CLI_FAILED;
	}
	return cli_local_etcd_wait(c, url, stop);
}

int
cli_local_write_env(const char *dir, const char *jobmanagers, const char *kafka,
                    const char *rest, const char *metrics, const char *admin,
                    const char *etcd_url, const char *token_file)
{
	char path[PATH_MAX];
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_printf(&b,
	              "# written by `weir local`; `. %s/%s` points weir at "
	              "this cluster\n"
	              "export WEIR_JOBMANAGER='%s'\n"
	              "export WEIR_KAFKA_BOOTSTRAP='%s'\n"
	              "export WEIR_REST='%s'\n"
	              "export WEIR_METRICS='%s'\n"
	              "export WEIR_LOCAL_ADMIN='%s'\n",
	              dir, CLI_LOCAL_ENV_FILE, jobmanagers, kafka, rest,
	              metrics, admin);
	if (etcd_url != NULL)
		wr_buf_printf(&b, "export WEIR_ETCD='%s'\n", etcd_url);
	if (token_file != NULL)
		wr_buf_printf(&b, "export WEIR_TOKEN_FILE='%s'\n", token_file);
	snprintf(path, sizeof(path), "%s/%s", dir, CLI_LOCAL_ENV_FILE);
	int rc = wr_write_file_atomic(path, b.data, b.len) == WR_OK ? 0 : -1;
	wr_buf_fini(&b);
	return rc;
}
