/*
 * progress.c - progress of a long verb on stderr (savepoint, stop, gen):
 * one line rewritten in place on a terminal, plain lines otherwise.
 *
 * A terminal gets a fresh line five times a second, so numbers move as
 * the work does. A pipe or a log file gets a line only when something
 * changed - each change of a savepoint (a subtask acknowledged), at most
 * one a second of a generator, whose count moves all the time - and one
 * every CLI_PROGRESS_QUIET_MS when nothing did, so a stalled wait still
 * shows its time going by.
 */
#include "cli.h"

#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Redraw interval of the terminal's line. */
#define CLI_PROGRESS_TTY_MS 200
/* Plain lines: at least one per CLI_PROGRESS_QUIET_MS when nothing
 * changed. */
#define CLI_PROGRESS_QUIET_MS 10000

/* The terminal line being rewritten, if any, so that an error printed
 * meanwhile starts on a line of its own (cli_progress_break). */
static cli_progress *cli_progress_open;

void
cli_progress_init(cli_progress *p, const cli_ctx *ctx, int64_t plain_ms)
{
	memset(p, 0, sizeof(*p));
	p->plain_ms = plain_ms;
	p->off = ctx->json;
	p->tty = isatty(STDERR_FILENO) == 1;
	p->start_ms = wr_mono_ms();
}

static void
cli_progress_print(cli_progress *p, const char *line, int64_t now)
{
	size_t len = strlen(line);

	if (p->tty) {
		/* Spaces blank what a longer previous line left. */
		int pad = p->width > len ? (int)(p->width - len) : 0;
		fprintf(stderr, "\r%s%*s", line, pad, "");
		if (pad > 0)
			fprintf(stderr, "\r%s", line);
		p->width = len;
		cli_progress_open = p;
	} else {
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
	p->last_ms = now;
	p->changed = false;
	p->lines++;
}

void
cli_progress_show(cli_progress *p, bool changed, bool force, const char *fmt,
                  ...)
{
	char line[CLI_PROGRESS_LINE_BYTES];
	int64_t now = wr_mono_ms();
	int64_t since = now - p->last_ms;
	va_list ap;

	if (p->off)
		return;
	p->changed = p->changed || changed;
	bool due = p->tty ? since >= CLI_PROGRESS_TTY_MS
	                  : (p->changed && since >= p->plain_ms) ||
	                        since >= CLI_PROGRESS_QUIET_MS;
	if (!force && !due)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cli_progress_print(p, line, now);
}

void
cli_progress_done(cli_progress *p)
{
	if (p->tty && cli_progress_open == p) {
		fputc('\n', stderr);
		fflush(stderr);
	}
	if (cli_progress_open == p)
		cli_progress_open = NULL;
	p->width = 0;
}

void
cli_progress_break(void)
{
	if (cli_progress_open != NULL)
		cli_progress_done(cli_progress_open);
}

int64_t
cli_progress_elapsed_ms(const cli_progress *p)
{
	return wr_mono_ms() - p->start_ms;
}

void
cli_format_elapsed(int64_t ms, char *out, size_t outlen)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		ms = s = 0;
	if (s < 60)
		snprintf(out, outlen, "%.1fs", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(out, outlen, "%lldm%02llds", (long long)(s / 60),
		         (long long)(s % 60));
	else
		snprintf(out, outlen, "%lldh%02lldm", (long long)(s / 3600),
		         (long long)(s / 60 % 60));
}

void
cli_format_bytes(uint64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(out, outlen, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, outlen, "%.1f %s", v, units[u]);
}
