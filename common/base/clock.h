/* clock.h - time helpers. Monotonic for deadlines, wall clock for display. */
#ifndef WR_CLOCK_H
#define WR_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (deadlines, heartbeats). */
int64_t wr_mono_ms(void);
/* Milliseconds since the Unix epoch (timestamps shown to users). */
int64_t wr_wall_ms(void);
/* Sleeps ms milliseconds (retries on EINTR until the time has passed). */
void wr_sleep_ms(int64_t ms);

#endif
