/*
 * base64.c - standard base64 with padding (RFC 4648 section 4).
 */
#include "base64.h"

#include "err.h"

#include <stdbool.h>
#include <string.h>

static const char wr_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
wr_base64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
wr_base64_encode(const void *p, size_t n, char *out, size_t outlen)
{
	const uint8_t *in = p;
	size_t o = 0;
	if (outlen < wr_base64_len(n) + 1) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = wr_b64_alphabet[(v >> 18) & 63];
		out[o++] = wr_b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? wr_b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? wr_b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int
wr_b64_value(char c)
{
	const char *p = c != '\0' ? strchr(wr_b64_alphabet, c) : NULL;
	return p != NULL ? (int)(p - wr_b64_alphabet) : -1;
}

int
wr_base64_decode(const char *s, uint8_t *out, size_t outlen, size_t *n)
{
	size_t len = strlen(s);
	size_t o = 0;
	if (len % 4 != 0)
		return WR_EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			bool last = i + 4 == len;
			if (s[i + k] == '=' && last && k >= 2 &&
			    (k == 3 || s[i + 3] == '=')) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = wr_b64_value(s[i + k])) < 0)
				return WR_EINVAL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		             (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t take = 3 - (size_t)pad;
		if (o + take > outlen)
			return WR_ETOOBIG;
		out[o++] = (uint8_t)(w >> 16);
		if (take > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (take > 2)
			out[o++] = (uint8_t)w;
	}
	*n = o;
	return WR_OK;
}
