/*
 * tls.h - TLS for every listener and dialer weir opens (security.tls):
 * tls+tcp:// for RPC and the shuffle, HTTPS for REST and /metrics.
 *
 * A process has one TLS setting, made once at start-up (wr_tls_setup)
 * before it opens any listener or client, as the cluster token is. The
 * rule for addresses: they stay tcp:// everywhere (config, registration,
 * the shuffle's peer lists); with TLS set up, every listener and dialer
 * opens a tcp:// address as tls+tcp:// (wr_tls_url), so a cluster turns
 * TLS on by configuration alone and a plain peer is refused at the
 * handshake. An explicit tls+tcp:// address needs TLS set up.
 *
 * With a CA, dialers verify the server's certificate (chain and host
 * name) and RPC and shuffle listeners require and verify the client's
 * (mutual TLS). HTTP listeners verify a client certificate only when one
 * is sent: REST and Prometheus authenticate with the token.
 */
#ifndef WR_TLS_H
#define WR_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

/*
 * Sets this process's TLS from PEM files: cert and key (both or neither)
 * and ca (may be ""). All "" = TLS off; a ca alone makes a client that
 * verifies servers but has no certificate of its own (a CLI against a
 * cluster without mutual TLS), and no listener can use it. Checks what can be
 * checked at start: every file readable and parsable, the key the certificate's
 * (a handshake over loopback). On error, errbuf names the setting and file.
 * Errors: WR_EINVAL (and the others of wr_err_from_nng).
 */
int wr_tls_setup(const char *cert, const char *key, const char *ca,
                 char *errbuf, size_t errlen);

/* Back to TLS off (tests). */
void wr_tls_reset(void);

/* True when this process speaks TLS. */
bool wr_tls_on(void);

/* True when the process has a certificate of its own (can listen). */
bool wr_tls_has_cert(void);

/* True when the process has a CA (peers are verified). */
bool wr_tls_verifies(void);

/*
 * url as nng is to open it: tcp://... becomes tls+tcp://... with TLS on;
 * anything else is copied. A tls+tcp:// url with TLS off is WR_EINVAL
 * (the config has no certificate for it). WR_EOVERFLOW when n is short.
 */
int wr_tls_url(const char *url, char *out, size_t n);

/* Gives a listener or dialer created on a tls+tcp:// url its certificate,
 * CA and verification (a no-op for other schemes). nng error codes. */
int wr_tls_listener_setup(nng_listener l, const char *url);
int wr_tls_dialer_setup(nng_dialer d, const char *url);

/* The same for an HTTP server (before it starts), with TLS on. */
int wr_tls_http_setup(nng_http_server *s);

#endif
