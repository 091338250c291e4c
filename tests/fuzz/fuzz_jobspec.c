/*
 * fuzz_jobspec.c - libFuzzer harness for the job YAML parser: any bytes
 * are a job file; it is refused with a message or parsed, planned and
 * freed, never a crash.
 */
#include "jobspec.h"
#include "plan.h"

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024] = "";
	wr_jobspec *spec = NULL;
	if (wr_jobspec_parse("fuzz.yaml", (const char *)data, size, 0, &spec,
	                     err, sizeof(err)) != WR_OK) {
		if (err[0] == '\0')
			abort(); /* a refusal always says why */
		return 0;
	}
	wr_plan *plan = NULL;
	if (wr_plan_build(spec, &plan, err, sizeof(err)) == WR_OK)
		wr_plan_free(plan);
	wr_jobspec_free(spec);
	return 0;
}
