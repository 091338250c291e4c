/*
 * log.h - one line per event on stderr.
 *
 * wr_log(WR_LOG_INFO, "TM-REGISTERED", "id=%s slots=%d", ...) writes
 *   2026-11-22T05:40:00.123Z INFO jobmanager TM-REGISTERED id=... slots=2
 * The level is checked before formatting. The event id is stable: tests and
 * operators grep for it. Thread-safe: each line is one write(2).
 */
#ifndef WR_LOG_H
#define WR_LOG_H

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

void wr_log_write(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define wr_log(level, event, ...)                                              \
	do {                                                                   \
		if ((level) >= wr_log_level_min)                               \
			wr_log_write((level), (event), __VA_ARGS__);           \
	} while (0)

#endif
