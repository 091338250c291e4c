/*
 * parse.c - durations, sizes, integers and booleans as users write them
 * (parse.h).
 */
#include "parse.h"

#include "err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct wr_parse_unit {
	const char *suffix;
	int64_t mul;
};

/* Matched case-insensitively and exactly, so "5min" or "5 s" is refused
 * rather than half-read. */
static const struct wr_parse_unit wr_parse_duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
    {"d", 24 * 60 * 60 * 1000},
};

#define WR_KIB ((int64_t)1024)
static const struct wr_parse_unit wr_parse_size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", WR_KIB},
    {"kb", WR_KIB},
    {"kib", WR_KIB},
    {"m", WR_KIB *WR_KIB},
    {"mb", WR_KIB *WR_KIB},
    {"mib", WR_KIB *WR_KIB},
    {"g", WR_KIB *WR_KIB *WR_KIB},
    {"gb", WR_KIB *WR_KIB *WR_KIB},
    {"gib", WR_KIB *WR_KIB *WR_KIB},
    {"t", WR_KIB *WR_KIB *WR_KIB *WR_KIB},
    {"tb", WR_KIB *WR_KIB *WR_KIB *WR_KIB},
    {"tib", WR_KIB *WR_KIB *WR_KIB *WR_KIB},
};

#define WR_PARSE_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Reads the leading run of decimal digits of s (at least one; no sign, no
 * blanks) into *out; *end points past it. limit is the largest magnitude
 * accepted: beyond it WR_ETOOBIG.
 */
static int
wr_parse_digits(const char *s, uint64_t limit, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return WR_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (limit - d) / 10)
			return WR_ETOOBIG;
		v = v * 10 + d;
	}
	*out = v;
	*end = p;
	return WR_OK;
}

/* Number followed by one of units' suffixes, scaled without overflow. */
static int
wr_parse_scaled(const char *s, const struct wr_parse_unit *units, size_t nunits,
                int64_t *out)
{
	uint64_t v;
	const char *suffix;
	int rc;

	if (s == NULL)
		return WR_EINVAL;
	rc = wr_parse_digits(s, INT64_MAX, &v, &suffix);
	if (rc != WR_OK)
		return rc;
	for (size_t i = 0; i < nunits; i++) {
		if (strcasecmp(suffix, units[i].suffix) != 0)
			continue;
		if (v > (uint64_t)(INT64_MAX / units[i].mul))
			return WR_ETOOBIG;
		*out = (int64_t)v * units[i].mul;
		return WR_OK;
	}
	return WR_EINVAL;
}

int
wr_parse_duration_ms(const char *s, int64_t *out_ms)
{
	if (s != NULL && strcmp(s, "0") == 0) {
		*out_ms = 0;
		return WR_OK;
	}
	return wr_parse_scaled(s, wr_parse_duration_units,
	                       WR_PARSE_NELEM(wr_parse_duration_units), out_ms);
}

int
wr_parse_size_bytes(const char *s, int64_t *out_bytes)
{
	return wr_parse_scaled(s, wr_parse_size_units,
	                       WR_PARSE_NELEM(wr_parse_size_units), out_bytes);
}

int
wr_parse_int64(const char *s, int64_t *out)
{
	bool neg = false;
	uint64_t v;
	const char *end;
	int rc;

	if (s == NULL)
		return WR_EINVAL;
	if (*s == '-' || *s == '+')
		neg = (*s++ == '-');
	/* The magnitude of INT64_MIN is one more than INT64_MAX. */
	rc = wr_parse_digits(s, neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &v,
	                     &end);
	if (rc != WR_OK)
		return rc;
	if (*end != '\0')
		return WR_EINVAL;
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return WR_OK;
}

int
wr_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	if (s == NULL)
		return WR_EINVAL;
	for (size_t i = 0; i < WR_PARSE_NELEM(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return WR_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return WR_OK;
		}
	}
	return WR_EINVAL;
}

void
wr_format_duration(int64_t ms, char *out, unsigned outlen)
{
	/* Work on the magnitude in uint64 so that INT64_MIN has one. */
	uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	const char *sign = ms < 0 ? "-" : "";
	size_t i = WR_PARSE_NELEM(wr_parse_duration_units);

	if (ms == 0) {
		snprintf(out, outlen, "0");
		return;
	}
	while (i-- > 1) {
		uint64_t mul = (uint64_t)wr_parse_duration_units[i].mul;
		if (mag % mul == 0)
			break;
	}
	snprintf(out, outlen, "%s%" PRIu64 "%s", sign,
	         mag / (uint64_t)wr_parse_duration_units[i].mul,
	         wr_parse_duration_units[i].suffix);
}

void
wr_quote_for_msg(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = len < outlen - 1 ? len : outlen - 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
	if (n < len && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}
