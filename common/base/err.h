/*
 * err.h - the one error enum of weir.
 *
 * Every function that can fail returns an int from this enum (0 on success).
 * Foreign error codes are folded in: nng's codes with wr_err_from_nng(), errno
 * values as WR_ESYSERR | errno.
 */
#ifndef WR_ERR_H
#define WR_ERR_H

enum wr_err {
	WR_OK = 0,
	WR_EINVAL,    /* invalid argument or input */
	WR_ENOMEM,    /* out of memory */
	WR_EFULL,     /* a bounded budget or queue is full: back off */
	WR_ETIMEDOUT, /* a wait ran out of time */
	WR_ECLOSED,   /* the object was closed or is shutting down */
	WR_ECORRUPT,  /* stored or received data failed its checks */
	WR_EPROTO,    /* peer broke the protocol (bad frame, wrong version) */
	WR_ENOENT,    /* no such thing (key, file, job, TaskManager) */
	WR_EEXIST,    /* already exists */
	WR_ECONNREFUSED, /* the peer is not there */
	WR_EUNREACHABLE, /* the peer could not be reached in time */
	WR_ETOOBIG,      /* a frame or value exceeds its limit */
	WR_EAGAIN,       /* try again later */
	WR_ESTATE,       /* operation not allowed in the current state */
	WR_EPERM,        /* not permitted (bad token, fenced epoch) */
	WR_EINTERNAL,    /* a bug: should not happen */
	WR_ESYSERR = 0x10000000, /* or'ed with errno */
	WR_ENNGERR = 0x20000000, /* or'ed with an nng error we do not map */
};

/* Returns a static, human-readable description of err. Thread-safe. */
const char *wr_strerror(int err);

/* Maps an nng error code (NNG_E*) to a weir code. */
int wr_err_from_nng(int nng_rv);

/* Returns WR_ESYSERR | errno_value. */
int wr_err_from_errno(int errno_value);

#endif
