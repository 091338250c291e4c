/*
 * err.c - wr_strerror, and errno and nng codes folded into the error enum
 * (err.h).
 */
#include "err.h"

#include <errno.h>
#include <nng/nng.h>
#include <stdio.h>
#include <string.h>

static const char *const wr_err_msgs[] = {
    [WR_OK] = "success",
    [WR_EINVAL] = "invalid argument",
    [WR_ENOMEM] = "out of memory",
    [WR_EFULL] = "budget or queue full",
    [WR_ETIMEDOUT] = "timed out",
    [WR_ECLOSED] = "closed",
    [WR_ECORRUPT] = "data corrupt",
    [WR_EPROTO] = "protocol error",
    [WR_ENOENT] = "not found",
    [WR_EEXIST] = "already exists",
    [WR_ECONNREFUSED] = "connection refused",
    [WR_EUNREACHABLE] = "peer unreachable",
    [WR_ETOOBIG] = "too big",
    [WR_EAGAIN] = "try again",
    [WR_ESTATE] = "not allowed in this state",
    [WR_EPERM] = "permission denied",
    [WR_EINTERNAL] = "internal error",
};

const char *
wr_strerror(int err)
{
	if (err & WR_ESYSERR)
		return strerror(err & ~WR_ESYSERR);
	if (err & WR_ENNGERR)
		return nng_strerror(err & ~WR_ENNGERR);
	if (err >= 0 &&
	    (size_t)err < sizeof(wr_err_msgs) / sizeof(wr_err_msgs[0]) &&
	    wr_err_msgs[err] != NULL)
		return wr_err_msgs[err];
	return "unknown error";
}

int
wr_err_from_errno(int errno_value)
{
	return errno_value == 0 ? WR_OK : (WR_ESYSERR | errno_value);
}

int
wr_err_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return WR_OK;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return WR_EINVAL;
	case NNG_ENOMEM:
		return WR_ENOMEM;
	case NNG_ETIMEDOUT:
		return WR_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return WR_ECLOSED;
	case NNG_EPROTO:
		return WR_EPROTO;
	case NNG_ENOENT:
		return WR_ENOENT;
	case NNG_ECONNREFUSED:
		return WR_ECONNREFUSED;
	case NNG_EMSGSIZE:
		return WR_ETOOBIG;
	case NNG_EAGAIN:
		return WR_EAGAIN;
	case NNG_ESTATE:
		return WR_ESTATE;
	case NNG_EPERM:
		return WR_EPERM;
	case NNG_EADDRINUSE:
		return WR_ESYSERR | EADDRINUSE;
	case NNG_EUNREACHABLE:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ECONNABORTED:
		return WR_EUNREACHABLE;
	default:
		if (rv & NNG_ESYSERR)
			return WR_ESYSERR | (rv & ~NNG_ESYSERR);
		return WR_ENNGERR | rv;
	}
}
