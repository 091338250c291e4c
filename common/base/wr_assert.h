/*
 * wr_assert.h - invariants.
 *
 * WR_ASSERT stays on in release builds; WR_DASSERT only in debug builds, for
 * checks too costly for production. Never assert on input from the network,
 * Kafka, disk or a user: return an error instead.
 */
#ifndef WR_ASSERT_H
#define WR_ASSERT_H

_Noreturn void wr_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define WR_ASSERT(cond)                                                        \
	do {                                                                   \
		if (__builtin_expect(!(cond), 0))                              \
			wr_panic(__FILE__, __LINE__, "assertion failed: %s",   \
			         #cond);                                       \
	} while (0)

#ifdef NDEBUG
#define WR_DASSERT(cond) ((void)0)
#else
#define WR_DASSERT(cond) WR_ASSERT(cond)
#endif

#endif
