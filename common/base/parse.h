/*
 * parse.h - parsing of user-written values: durations, sizes, integers,
 * booleans. Shared by the config engine and the job parser. Each returns
 * WR_OK or WR_EINVAL (malformed) / WR_ETOOBIG (out of int64 range).
 */
#ifndef WR_PARSE_H
#define WR_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "500ms", "10s", "5m", "1h", "2d"; a bare "0" is 0. Result in ms. */
int wr_parse_duration_ms(const char *s, int64_t *out_ms);
/* "512", "64kb", "16mb", "1gb" (also KiB/MiB/GiB, k/m/g; powers of 1024). */
int wr_parse_size_bytes(const char *s, int64_t *out_bytes);
/* Decimal integer, optional sign, no trailing garbage. */
int wr_parse_int64(const char *s, int64_t *out);
/* true/false, yes/no, on/off (case-insensitive). */
int wr_parse_bool(const char *s, bool *out);
/* Formats a duration in the largest exact unit: 90000 -> "90s",
 * 500 -> "500ms", 0 -> "0". The output reads back with wr_parse_duration_ms. */
void wr_format_duration(int64_t ms, char *out, unsigned outlen);

/*
 * Copies len bytes of s (user input) into out for an error message: bytes
 * below 0x20 and 0x7f become '?' so a message stays on one line, and a value
 * longer than outlen - 1 is cut and ends in "...". out is always
 * NUL-terminated (outlen > 0).
 */
void wr_quote_for_msg(const char *s, size_t len, char *out, size_t outlen);

#endif
