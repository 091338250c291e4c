/*
 * frame_test.c - the control-plane frame: round trips, and hostile input
 * (truncated, oversized, bad magic, random bytes, arena bombs) refused
 * without a crash and without unbounded allocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wrtest.h"

#include "buf.h"
#include "err.h"
#include "frame.h"
#include "frame_int.h"
#include "wr_limits.h"

#include "weir.pb-c.h"

/* Packs env into a fresh buffer the caller finalises. */
static void
pack_ok(Weir__Envelope *env, wr_buf *b)
{
	wr_buf_init(b);
	assert_int_equal(wr_frame_pack(env, b), WR_OK);
	assert_true(b->len > WR_FRAME_MAGIC_LEN);
	assert_memory_equal(b->data, WR_FRAME_MAGIC, WR_FRAME_MAGIC_LEN);
}

/* Unpacks a heap copy of exactly len bytes, so ASan sees any over-read. */
static int
unpack_copy(const void *data, size_t len, wr_msg **out)
{
	void *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, data, len);
	int rv = wr_frame_unpack(copy, len, out);
	free(copy);
	return rv;
}

static void
test_roundtrip_ping(void **state)
{
	(void)state;
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__Ping ping = WEIR__PING__INIT;
	ping.jm_instance = "jm-0001";
	env.body_case = WEIR__ENVELOPE__BODY_PING;
	env.ping = &ping;
	env.has_epoch = 1;
	env.epoch = 42;
	env.token = "secret";
	wr_buf b;
	pack_ok(&env, &b);
	assert_int_equal(env.version, WR_PROTOCOL_VERSION);

	wr_msg *m = NULL;
	assert_int_equal(unpack_copy(b.data, b.len, &m), WR_OK);
	Weir__Envelope *got = wr_msg_env(m);
	assert_int_equal(wr_msg_version(m), WR_PROTOCOL_VERSION);
	assert_int_equal(got->body_case, WEIR__ENVELOPE__BODY_PING);
	assert_string_equal(got->ping->jm_instance, "jm-0001");
	assert_int_equal(got->epoch, 42);
	assert_string_equal(got->token, "secret");
	assert_true(wr_msg_arena_bytes(m) > 0);
	assert_int_equal(wr_frame_version_ok(m, "test", NULL, 0), WR_OK);
	wr_msg_free(m);
	wr_buf_fini(&b);
}

static void
test_roundtrip_heartbeat_and_bytes(void **state)
{
	(void)state;
	Weir__SlotState s[3];
	Weir__SlotState *sp[3];
	for (int i = 0; i < 3; i++) {
		Weir__SlotState init = WEIR__SLOT_STATE__INIT;
		s[i] = init;
		s[i].index = (uint32_t)i;
		s[i].job_id = i == 1 ? "job-a" : NULL;
		sp[i] = &s[i];
	}
	Weir__Heartbeat hb = WEIR__HEARTBEAT__INIT;
	hb.tm_id = "tm-1";
	hb.n_slots = 3;
	hb.slots = sp;
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	env.body_case = WEIR__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	wr_buf b;
	pack_ok(&env, &b);
	wr_msg *m = NULL;
	assert_int_equal(unpack_copy(b.data, b.len, &m), WR_OK);
	Weir__Heartbeat *got = wr_msg_env(m)->heartbeat;
	assert_string_equal(got->tm_id, "tm-1");
	assert_int_equal(got->n_slots, 3);
	assert_int_equal(got->slots[2]->index, 2);
	assert_string_equal(got->slots[1]->job_id, "job-a");
	wr_msg_free(m);
	wr_buf_fini(&b);

	/* bytes with NULs inside, and an empty bytes field */
	static const uint8_t spec[] = {0, 1, 2, 0, 255};
	Weir__DeployTask dt = WEIR__DEPLOY_TASK__INIT;
	dt.job_id = "j";
	dt.task_id = "j/v/0";
	dt.task_spec.data = (uint8_t *)spec;
	dt.task_spec.len = sizeof(spec);
	Weir__Envelope env2 = WEIR__ENVELOPE__INIT;
	env2.body_case = WEIR__ENVELOPE__BODY_DEPLOY_TASK;
	env2.deploy_task = &dt;
	pack_ok(&env2, &b);
	assert_int_equal(unpack_copy(b.data, b.len, &m), WR_OK);
	assert_int_equal(wr_msg_env(m)->deploy_task->task_spec.len,
	                 sizeof(spec));
	assert_memory_equal(wr_msg_env(m)->deploy_task->task_spec.data, spec,
	                    sizeof(spec));
	wr_msg_free(m);
	wr_buf_fini(&b);

	dt.task_spec.len = 0;
	dt.task_spec.data = NULL;
	pack_ok(&env2, &b);
	assert_int_equal(unpack_copy(b.data, b.len, &m), WR_OK);
	assert_int_equal(wr_msg_env(m)->deploy_task->task_spec.len, 0);
	wr_msg_free(m);
	wr_buf_fini(&b);
}

/* The pack appends: two frames can share one buffer. */
static void
test_pack_appends(void **state)
{
	(void)state;
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__Ack ack = WEIR__ACK__INIT;
	env.body_case = WEIR__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_puts(&b, "xy");
	assert_int_equal(wr_frame_pack(&env, &b), WR_OK);
	assert_memory_equal(b.data, "xyWEIR", 6);
	wr_msg *m = NULL;
	assert_int_equal(unpack_copy(b.data + 2, b.len - 2, &m), WR_OK);
	assert_int_equal(wr_msg_env(m)->body_case, WEIR__ENVELOPE__BODY_ACK);
	wr_msg_free(m);
	wr_buf_fini(&b);
}

static void
make_submit(Weir__Envelope *env, Weir__SubmitJob *sj, char *yaml)
{
	Weir__Envelope e = WEIR__ENVELOPE__INIT;
	Weir__SubmitJob s = WEIR__SUBMIT_JOB__INIT;
	*env = e;
	*sj = s;
	sj->job_yaml = yaml;
	env->body_case = WEIR__ENVELOPE__BODY_SUBMIT_JOB;
	env->submit_job = sj;
}

/* Every prefix of a valid frame is refused or parsed, never a crash. */
static void
test_truncated_prefixes(void **state)
{
	(void)state;
	Weir__Envelope env;
	Weir__SubmitJob sj;
	make_submit(&env, &sj, "name: wordcount\nparallelism: 2\n");
	sj.file_name = "wc.yaml";
	sj.has_parallelism = 1;
	sj.parallelism = 4;
	wr_buf b;
	pack_ok(&env, &b);
	for (size_t n = 0; n < b.len; n++) {
		wr_msg *m = NULL;
		int rv = unpack_copy(b.data, n, &m);
		if (n < WR_FRAME_MAGIC_LEN + 2)
			assert_int_equal(rv, WR_EPROTO);
		if (rv == WR_OK)
			wr_msg_free(m);
		else
			assert_null(m);
	}
	wr_buf_fini(&b);
}

static void
test_oversized_refused(void **state)
{
	(void)state;
	/* A frame over the limit is refused whatever it contains. */
	size_t len = WR_RPC_MAX_FRAME_BYTES + 1;
	char *big = calloc(1, len);
	assert_non_null(big);
	memcpy(big, WR_FRAME_MAGIC, WR_FRAME_MAGIC_LEN);
	wr_msg *m = (wr_msg *)1;
	assert_int_equal(wr_frame_unpack(big, len, &m), WR_ETOOBIG);
	assert_null(m);
	/* Not even read: a huge length with a tiny buffer is still safe. */
	assert_int_equal(wr_frame_unpack("WEIR", SIZE_MAX, &m), WR_ETOOBIG);

	/* pack refuses to build one */
	memset(big, 'a', len - 1);
	big[len - 1] = '\0';
	Weir__Envelope env;
	Weir__SubmitJob sj;
	make_submit(&env, &sj, big);
	wr_buf b;
	wr_buf_init(&b);
	assert_int_equal(wr_frame_pack(&env, &b), WR_ETOOBIG);
	assert_int_equal(b.len, 0);
	wr_buf_fini(&b);
	free(big);
}

static void
test_bad_magic_and_empty(void **state)
{
	(void)state;
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__Ack ack = WEIR__ACK__INIT;
	env.body_case = WEIR__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	wr_buf b;
	pack_ok(&env, &b);
	wr_msg *m = NULL;
	b.data[3] = 'S';
	assert_int_equal(unpack_copy(b.data, b.len, &m), WR_EPROTO);
	assert_null(m);
	assert_int_equal(wr_frame_unpack(NULL, 0, &m), WR_EPROTO);
	assert_int_equal(wr_frame_unpack("", 0, &m), WR_EPROTO);
	assert_int_equal(wr_frame_unpack("WEI", 3, &m), WR_EPROTO);
	/* magic alone: an empty Envelope lacks the required version */
	assert_int_equal(wr_frame_unpack("WEIR", 4, &m), WR_EPROTO);
	wr_buf_fini(&b);
}

static void
test_no_body_and_missing_required(void **state)
{
	(void)state;
	/* version 1, no body */
	static const uint8_t nobody[] = {'W', 'E', 'I', 'R', 0x08, 0x01};
	wr_msg *m = NULL;
	assert_int_equal(unpack_copy(nobody, sizeof(nobody), &m), WR_EPROTO);
	/* version 1, ping (field 26) without its required jm_instance */
	static const uint8_t noreq[] = {'W',  'E',  'I',  'R', 0x08,
	                                0x01, 0xd2, 0x01, 0x00};
	assert_int_equal(unpack_copy(noreq, sizeof(noreq), &m), WR_EPROTO);
	/* version 7 with a body kind we do not know (field 99): accepted so
	 * the caller can name the version mismatch */
	static const uint8_t future[] = {'W',  'E',  'I',  'R',  0x08,
	                                 0x07, 0x9a, 0x06, 0x01, 0x00};
	assert_int_equal(unpack_copy(future, sizeof(future), &m), WR_OK);
	assert_int_equal(wr_msg_version(m), 7);
	char err[128];
	assert_int_equal(wr_frame_version_ok(m, "jobmanager", err, sizeof(err)),
	                 WR_EPROTO);
	assert_string_equal(err, "peer speaks protocol version 7, this "
	                         "jobmanager speaks 1");
	wr_msg_free(m);
}

static void
test_random_bytes(void **state)
{
	(void)state;
	uint64_t seed = 0x5eed1234abcdull;
	uint8_t buf[512];
	int ok = 0;
	for (int i = 0; i < 5000; i++) {
		size_t len = (size_t)(wrt_rng(&seed) % sizeof(buf));
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)wrt_rng(&seed);
		/* Half start with the magic (and version 1) to get past the
		 * first checks into protobuf-c. */
		if ((i & 1) && len >= 6)
			memcpy(buf, "WEIR\x08\x01", 6);
		wr_msg *m = NULL;
		if (unpack_copy(buf, len, &m) == WR_OK) {
			ok++;
			assert_true(wr_msg_arena_bytes(m) <=
			            WR_RPC_MAX_UNPACK_BYTES);
			wr_msg_free(m);
		}
	}
	/* Random bytes are essentially never a valid Envelope with a body. */
	assert_true(ok < 50);
}

/* Bit flips of a valid frame: reaches deeper into the parser. */
static void
test_mutated_frames(void **state)
{
	(void)state;
	Weir__Envelope env;
	Weir__SubmitJob sj;
	make_submit(&env, &sj, "name: x\n");
	sj.from_savepoint = "/tmp/sp-1";
	wr_buf b;
	pack_ok(&env, &b);
	uint64_t seed = 77;
	for (int i = 0; i < 3000; i++) {
		uint8_t tmp[256];
		assert_true(b.len <= sizeof(tmp));
		memcpy(tmp, b.data, b.len);
		int flips = 1 + (int)(wrt_rng(&seed) % 4);
		for (int k = 0; k < flips; k++) {
			size_t at =
			    WR_FRAME_MAGIC_LEN +
			    wrt_rng(&seed) % (b.len - WR_FRAME_MAGIC_LEN);
			tmp[at] ^= (uint8_t)(1u << (wrt_rng(&seed) % 8));
		}
		wr_msg *m = NULL;
		if (unpack_copy(tmp, b.len, &m) == WR_OK)
			wr_msg_free(m);
	}
	wr_buf_fini(&b);
}

/* A legitimate message larger than a small arena cap is refused. */
static void
test_arena_cap_small(void **state)
{
	(void)state;
	enum { N = 200 };
	Weir__JobSummary js[N];
	Weir__JobSummary *jp[N];
	for (int i = 0; i < N; i++) {
		Weir__JobSummary init = WEIR__JOB_SUMMARY__INIT;
		js[i] = init;
		js[i].id = "0123456789abcdef0123456789abcdef";
		js[i].name = "a job with a name";
		js[i].state = "RUNNING";
		jp[i] = &js[i];
	}
	Weir__JobList jl = WEIR__JOB_LIST__INIT;
	jl.n_jobs = N;
	jl.jobs = jp;
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	env.body_case = WEIR__ENVELOPE__BODY_JOB_LIST;
	env.job_list = &jl;
	wr_buf b;
	pack_ok(&env, &b);

	wr_msg *m = NULL;
	assert_int_equal(wr_frame_unpack(b.data, b.len, &m), WR_OK);
	size_t used = wr_msg_arena_bytes(m);
	size_t held = wr_msg_arena_held_bytes(m);
	assert_true(used > 4096);
	assert_true(held >= used);
	assert_int_equal(wr_msg_env(m)->job_list->n_jobs, N);
	wr_msg_free(m);

	for (size_t cap = 0; cap < 4096; cap += 61) {
		assert_int_equal(wr_frame_unpack_capped(b.data, b.len, cap, &m),
		                 WR_ETOOBIG);
		assert_null(m);
	}
	/* A cap just big enough succeeds and is respected. */
	assert_int_equal(wr_frame_unpack_capped(b.data, b.len, held, &m),
	                 WR_OK);
	assert_true(wr_msg_arena_held_bytes(m) <= held);
	wr_msg_free(m);
	wr_buf_fini(&b);
}

/* Appends a protobuf varint. */
static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/*
 * A frame within WR_RPC_MAX_FRAME_BYTES that protobuf-c would expand far
 * past WR_RPC_MAX_UNPACK_BYTES: a million 4-byte SlotStates, each costing
 * ~100 bytes unpacked. The real cap refuses it.
 */
static void
test_arena_bomb_real_cap(void **state)
{
	(void)state;
	const size_t nslots = 1000000;
	size_t hb_len = 2 + nslots * 4; /* tm_id "" + slots */
	uint8_t *f = malloc(WR_RPC_MAX_FRAME_BYTES);
	assert_non_null(f);
	size_t n = 0;
	memcpy(f, "WEIR\x08\x01", 6);
	n = 6;
	n += put_varint(f + n, (22u << 3) | 2); /* heartbeat */
	n += put_varint(f + n, hb_len);
	f[n++] = 0x0a; /* tm_id, empty */
	f[n++] = 0x00;
	for (size_t i = 0; i < nslots; i++) {
		f[n++] = 0x12; /* slots, 2 bytes */
		f[n++] = 0x02;
		f[n++] = 0x08; /* index 0 */
		f[n++] = 0x00;
	}
	assert_true(n <= WR_RPC_MAX_FRAME_BYTES);
	wr_msg *m = NULL;
	assert_int_equal(wr_frame_unpack(f, n, &m), WR_ETOOBIG);
	assert_null(m);

	/* The same bomb with one field repeated: 2 M empty tokens. */
	n = 6;
	while (n + 2 <= WR_RPC_MAX_FRAME_BYTES) {
		f[n++] = 0x1a; /* token, empty */
		f[n++] = 0x00;
	}
	assert_int_equal(wr_frame_unpack(f, n, &m), WR_ETOOBIG);
	free(f);
}

static void
test_free_null(void **state)
{
	(void)state;
	wr_msg_free(NULL);
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	assert_int_equal(wr_frame_pack(NULL, NULL), WR_EINVAL);
	assert_int_equal(wr_frame_pack(&env, NULL), WR_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_ping),
	    cmocka_unit_test(test_roundtrip_heartbeat_and_bytes),
	    cmocka_unit_test(test_pack_appends),
	    cmocka_unit_test(test_truncated_prefixes),
	    cmocka_unit_test(test_oversized_refused),
	    cmocka_unit_test(test_bad_magic_and_empty),
	    cmocka_unit_test(test_no_body_and_missing_required),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_mutated_frames),
	    cmocka_unit_test(test_arena_cap_small),
	    cmocka_unit_test(test_arena_bomb_real_cap),
	    cmocka_unit_test(test_free_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
