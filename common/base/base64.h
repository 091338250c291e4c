/*
 * base64.h - standard base64 (RFC 4648, with padding), for the JSON APIs
 * that carry bytes as text (etcd's v3 gateway).
 */
#ifndef WR_BASE64_H
#define WR_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The encoded length of n bytes, without the NUL. */
size_t wr_base64_len(size_t n);

/* Encodes n bytes of p into out (outlen >= wr_base64_len(n) + 1, NUL
 * terminated). Returns the encoded length. */
size_t wr_base64_encode(const void *p, size_t n, char *out, size_t outlen);

/* Decodes the NUL-terminated s into out (outlen >= strlen(s) / 4 * 3).
 * Returns WR_OK with *n set, or WR_EINVAL for anything but canonical
 * padded base64, WR_ETOOBIG when out is too small. */
int wr_base64_decode(const char *s, uint8_t *out, size_t outlen, size_t *n);

#endif
