/*
 * tls.c - the process's TLS setting (security.tls) and how each listener
 * and dialer gets it.
 *
 * The PEM files are read once, at start. Configs are made per listener
 * and dialer from them, not shared: a dialer's config carries the server
 * name it verifies (the host of its url), and nng holds each config as
 * long as the endpoint lives.
 */
#include "tls.h"

#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/pair0/pair.h>
#include <nng/supplemental/tls/tls.h>

/* Written once at start-up, before any thread reads them: the PEM text
 * of each file, NULL when not set. */
static char *wr_tls_cert, *wr_tls_key, *wr_tls_ca;

static const char wr_tls_scheme[] = "tls+tcp://";

bool
wr_tls_on(void)
{
	return wr_tls_cert != NULL || wr_tls_ca != NULL;
}

bool
wr_tls_has_cert(void)
{
	return wr_tls_cert != NULL;
}

bool
wr_tls_verifies(void)
{
	return wr_tls_ca != NULL;
}

void
wr_tls_reset(void)
{
	free(wr_tls_cert);
	free(wr_tls_key);
	free(wr_tls_ca);
	wr_tls_cert = wr_tls_key = wr_tls_ca = NULL;
}

int
wr_tls_url(const char *url, char *out, size_t n)
{
	bool tls = strncmp(url, wr_tls_scheme, strlen(wr_tls_scheme)) == 0;
	if (tls && !wr_tls_on())
		return WR_EINVAL;
	int len = (wr_tls_on() && strncmp(url, "tcp://", 6) == 0)
	              ? snprintf(out, n, "tls+%s", url)
	              : snprintf(out, n, "%s", url);
	return len < 0 || (size_t)len >= n ? WR_ETOOBIG : WR_OK;
}

/*
 * A config of mode (NNG_TLS_MODE_SERVER or _CLIENT) holding this
 * process's certificate and CA, verifying peers as auth says (with a
 * CA; without one nothing can be verified). server_name: what a client
 * checks the server's certificate against, or NULL.
 */
static int
wr_tls_config(nng_tls_mode mode, nng_tls_auth_mode auth,
              const char *server_name, nng_tls_config **out)
{
	nng_tls_config *cfg;
	int rv = nng_tls_config_alloc(&cfg, mode);
	if (rv != 0)
		return rv;
	if (wr_tls_ca == NULL)
		auth = NNG_TLS_AUTH_MODE_NONE;
	if ((wr_tls_cert != NULL &&
	     (rv = nng_tls_config_own_cert(cfg, wr_tls_cert, wr_tls_key,
	                                   NULL)) != 0) ||
	    (wr_tls_ca != NULL &&
	     (rv = nng_tls_config_ca_chain(cfg, wr_tls_ca, NULL)) != 0) ||
	    (server_name != NULL &&
	     (rv = nng_tls_config_server_name(cfg, server_name)) != 0) ||
	    (rv = nng_tls_config_auth_mode(cfg, auth)) != 0) {
		nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}

static bool
wr_tls_is_tls(const char *url)
{
	return strncmp(url, wr_tls_scheme, strlen(wr_tls_scheme)) == 0;
}

int
wr_tls_listener_setup(nng_listener l, const char *url)
{
	nng_tls_config *cfg;
	if (!wr_tls_is_tls(url))
		return 0;
	if (!wr_tls_has_cert())
		return NNG_EINVAL;
	int rv = wr_tls_config(NNG_TLS_MODE_SERVER, NNG_TLS_AUTH_MODE_REQUIRED,
	                       NULL, &cfg);
	if (rv != 0)
		return rv;
	rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the listener holds it */
	return rv;
}

int
wr_tls_dialer_setup(nng_dialer d, const char *url)
{
	nng_url *u;
	nng_tls_config *cfg;
	if (!wr_tls_is_tls(url))
		return 0;
	if (!wr_tls_on())
		return NNG_EINVAL;
	int rv = nng_url_parse(&u, url);
	if (rv != 0)
		return rv;
	rv = wr_tls_config(NNG_TLS_MODE_CLIENT, NNG_TLS_AUTH_MODE_REQUIRED,
	                   u->u_hostname, &cfg);
	nng_url_free(u);
	if (rv != 0)
		return rv;
	rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the dialer holds it */
	return rv;
}

int
wr_tls_http_setup(nng_http_server *s)
{
	nng_tls_config *cfg;
	if (!wr_tls_has_cert())
		return NNG_EINVAL;
	int rv = wr_tls_config(NNG_TLS_MODE_SERVER, NNG_TLS_AUTH_MODE_OPTIONAL,
	                       NULL, &cfg);
	if (rv != 0)
		return rv;
	rv = nng_http_server_set_tls(s, cfg);
	nng_tls_config_free(cfg); /* the server holds it */
	return rv;
}

/*
 * A handshake over loopback between a server and a client of this
 * process's certificate, verifying nothing: it fails when the key is not
 * the certificate's (the server's signature does not check out), which
 * mbedTLS does not notice when it loads them.
 */
static int
wr_tls_selftest(void)
{
	nng_socket srv = NNG_SOCKET_INITIALIZER, cli = NNG_SOCKET_INITIALIZER;
	nng_listener l;
	nng_dialer d;
	nng_tls_config *scfg = NULL, *ccfg = NULL;
	char url[64];
	int port = 0, rv;
	if ((rv = nng_pair0_open(&srv)) != 0 || (rv = nng_pair0_open(&cli)) ||
	    (rv = wr_tls_config(NNG_TLS_MODE_SERVER, NNG_TLS_AUTH_MODE_NONE,
	                        NULL, &scfg)) != 0 ||
	    (rv = wr_tls_config(NNG_TLS_MODE_CLIENT, NNG_TLS_AUTH_MODE_NONE,
	                        NULL, &ccfg)) != 0 ||
	    (rv = nng_listener_create(&l, srv, "tls+tcp://127.0.0.1:0")) != 0 ||
	    (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, scfg)) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0 ||
	    (rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)) != 0)
		goto done;
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	if ((rv = nng_dialer_create(&d, cli, url)) != 0 ||
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, ccfg)) != 0 ||
	    (rv = nng_socket_set_ms(cli, NNG_OPT_SENDTIMEO, 5000)) != 0 ||
	    (rv = nng_socket_set_ms(srv, NNG_OPT_RECVTIMEO, 5000)) != 0 ||
	    (rv = nng_dialer_start(d, 0)) != 0 ||
	    (rv = nng_send(cli, "x", 1, 0)) != 0)
		goto done;
	char buf[4];
	size_t n = sizeof(buf);
	rv = nng_recv(srv, buf, &n, 0);
done:
	nng_close(cli);
	nng_close(srv);
	if (scfg != NULL)
		nng_tls_config_free(scfg);
	if (ccfg != NULL)
		nng_tls_config_free(ccfg);
	return rv;
}

/* Reads security.tls.<name>'s file at path into *out. */
static int
wr_tls_read(const char *name, const char *path, char **out, char *errbuf,
            size_t errlen)
{
	size_t n;
	int rv = wr_read_file(path, WR_TLS_PEM_MAX_BYTES, out, &n);
	if (rv != WR_OK)
		snprintf(errbuf, errlen, "security.tls.%s: %s: %s", name, path,
		         rv == WR_ETOOBIG ? "over 1 MiB" : wr_strerror(rv));
	return rv;
}

/* Checks that the PEM text loads into nng and that the key is the
 * certificate's; errbuf says which file is wrong. */
static int
wr_tls_check(const char *cert, const char *key, const char *ca, char *errbuf,
             size_t errlen)
{
	nng_tls_config *cfg;
	int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
	if (rv != 0)
		return wr_err_from_nng(rv);
	if (wr_tls_cert != NULL &&
	    (rv = nng_tls_config_own_cert(cfg, wr_tls_cert, wr_tls_key,
	                                  NULL)) != 0)
		snprintf(errbuf, errlen,
		         "security.tls.cert %s / key %s: not a PEM certificate "
		         "and its unencrypted PEM key (%s)",
		         cert, key, nng_strerror(rv));
	else if (wr_tls_ca != NULL &&
	         (rv = nng_tls_config_ca_chain(cfg, wr_tls_ca, NULL)) != 0)
		snprintf(errbuf, errlen,
		         "security.tls.ca %s: not PEM CA certificates (%s)", ca,
		         nng_strerror(rv));
	nng_tls_config_free(cfg);
	if (rv != 0)
		return wr_err_from_nng(rv);
	if (wr_tls_cert != NULL && (rv = wr_tls_selftest()) != 0) {
		snprintf(errbuf, errlen,
		         "security.tls.key %s is not the key of cert %s (a "
		         "loopback handshake failed: %s)",
		         key, cert, nng_strerror(rv));
		return wr_err_from_nng(rv);
	}
	return WR_OK;
}

int
wr_tls_setup(const char *cert, const char *key, const char *ca, char *errbuf,
             size_t errlen)
{
	wr_tls_reset();
	if (cert[0] == '\0' && key[0] == '\0' && ca[0] == '\0')
		return WR_OK;
	if ((cert[0] == '\0') != (key[0] == '\0')) {
		snprintf(errbuf, errlen,
		         "security.tls: cert and key go together (cert '%s', "
		         "key '%s')",
		         cert, key);
		return WR_EINVAL;
	}
	int rv = WR_OK;
	if (cert[0] != '\0' &&
	    ((rv = wr_tls_read("cert", cert, &wr_tls_cert, errbuf, errlen)) !=
	         WR_OK ||
	     (rv = wr_tls_read("key", key, &wr_tls_key, errbuf, errlen)) !=
	         WR_OK))
		goto fail;
	if (ca[0] != '\0' &&
	    (rv = wr_tls_read("ca", ca, &wr_tls_ca, errbuf, errlen)) != WR_OK)
		goto fail;
	if ((rv = wr_tls_check(cert, key, ca, errbuf, errlen)) == WR_OK)
		return WR_OK;
fail:
	wr_tls_reset();
	return rv;
}
