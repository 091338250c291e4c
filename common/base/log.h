/*
 * log.h - one line per event on stderr.
 *
 * wr_log(WR_LOG_INFO, "TM-REGISTERED", "id=%s slots=%d", ...) writes
 *   2026-11-22T05:40:00.123Z INFO jobmanager TM-REGISTERED id=... slots=2
 * The level is checked before formatting. The event id is stable: tests and
 * operators grep for it. Thread-safe: each line is one write(2).
 *
 * With the JSON format (log.format: json, env WEIR_LOG_FORMAT) the same
 * event is one object per line:
 *   {"time":"2026-11-22T05:40:00.123Z","level":"INFO","event":"TASK-END",
 *    "component":"taskmanager","job_id":"<32 hex>","task":"1/0",
 *    "message":"job=<32 hex> task=1/0 FINISHED"}
 * job_id and task are taken from the message's first `job=` and `task=`
 * words (value up to the next space, a trailing ':' or ',' dropped): every
 * line about one job or task says so that way, so no call site passes them
 * twice. They are left out when the message has none.
 */
#ifndef WR_LOG_H
#define WR_LOG_H

#include <stddef.h>

enum wr_log_level {
	WR_LOG_DEBUG = 0,
	WR_LOG_INFO = 1,
	WR_LOG_WARN = 2,
	WR_LOG_ERROR = 3,
};

extern int wr_log_level_min;

/* Sets the role printed on every line ("jobmanager", "taskmanager", ...).
 * role must outlive all logging (a string literal). Call once at start. */
void wr_log_set_role(const char *role);

/* Sets the minimum level; also read from env WEIR_LOG_LEVEL by
 * wr_log_init_from_env(). */
void wr_log_set_level(int level);
void wr_log_init_from_env(void);

/* Parses "debug", "info", "warn", "error"; -1 if unknown. */
int wr_log_level_parse(const char *s);

enum wr_log_format {
	WR_LOG_TEXT = 0,
	WR_LOG_JSON = 1,
};

/* Sets the line format; also read from env WEIR_LOG_FORMAT by
 * wr_log_init_from_env(). */
void wr_log_set_format(int format);

/* Parses "text", "json"; -1 if unknown. */
int wr_log_format_parse(const char *s);

/* Formats one line (newline included, no NUL) of the given format into buf
 * and returns its length (< len). Every byte of msg is escaped for JSON:
 * quotes, backslashes, control characters; invalid UTF-8 becomes U+FFFD.
 * A message too long for buf is cut at a character boundary. */
size_t wr_log_format_line(char *buf, size_t len, int format, int level,
                          const char *event, const char *msg);

void wr_log_write(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define wr_log(level, event, ...)                                              \
	do {                                                                   \
		if ((level) >= wr_log_level_min)                               \
			wr_log_write((level), (event), __VA_ARGS__);           \
	} while (0)

#endif
