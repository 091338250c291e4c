/*
 * json_decode_bench_jsonc.c - json-c 0.16 as a json_decode_bench backend.
 * json-c is loaded with dlopen(RTLD_LOCAL): linked normally, its
 * json_object_get() would clash with jansson's in wrcommon. Without
 * libjson-c-dev at build time the backend reports itself absent.
 */
#include "json_decode_bench.h"

#ifdef WR_BENCH_HAVE_JSONC
#include <json-c/json.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* The functions used, typed from json-c's own declarations. */
static struct {
	void *lib;
	struct json_tokener *tok;
	__typeof__(&json_c_version) version;
	__typeof__(&json_tokener_new) tok_new;
	__typeof__(&json_tokener_free) tok_free;
	__typeof__(&json_tokener_reset) tok_reset;
	__typeof__(&json_tokener_set_flags) tok_set_flags;
	__typeof__(&json_tokener_parse_ex) parse_ex;
	__typeof__(&json_tokener_get_error) get_error;
	__typeof__(&json_tokener_get_parse_end) parse_end;
	__typeof__(&json_object_put) put;
	__typeof__(&json_object_get_type) get_type;
	__typeof__(&json_object_object_get_ex) get_ex;
	__typeof__(&json_object_get_string) get_string;
	__typeof__(&json_object_get_string_len) get_string_len;
	__typeof__(&json_object_get_int64) get_int64;
	__typeof__(&json_object_get_double) get_double;
	__typeof__(&json_object_get_boolean) get_boolean;
} jc;

/* dlsym into a typed function pointer (POSIX guarantees that a function
 * pointer and void * share their representation). */
static bool
bench_jsonc_sym(void *fn_ptr, const char *name)
{
	void *sym = dlsym(jc.lib, name);
	memcpy(fn_ptr, &sym, sizeof(sym));
	return sym != NULL;
}

_Static_assert(sizeof(void (*)(void)) == sizeof(void *),
               "function pointers must fit what dlsym returns");

#define BENCH_SYM(field, name) bench_jsonc_sym(&jc.field, name)

bool
bench_jsonc_open(char *version, size_t versionlen, char *err, size_t errlen)
{
	jc.lib = dlopen("libjson-c.so", RTLD_NOW | RTLD_LOCAL);
	if (jc.lib == NULL) {
		snprintf(err, errlen, "%s", dlerror());
		return false;
	}
	if (!BENCH_SYM(version, "json_c_version") ||
	    !BENCH_SYM(tok_new, "json_tokener_new") ||
	    !BENCH_SYM(tok_free, "json_tokener_free") ||
	    !BENCH_SYM(tok_reset, "json_tokener_reset") ||
	    !BENCH_SYM(tok_set_flags, "json_tokener_set_flags") ||
	    !BENCH_SYM(parse_ex, "json_tokener_parse_ex") ||
	    !BENCH_SYM(get_error, "json_tokener_get_error") ||
	    !BENCH_SYM(parse_end, "json_tokener_get_parse_end") ||
	    !BENCH_SYM(put, "json_object_put") ||
	    !BENCH_SYM(get_type, "json_object_get_type") ||
	    !BENCH_SYM(get_ex, "json_object_object_get_ex") ||
	    !BENCH_SYM(get_string, "json_object_get_string") ||
	    !BENCH_SYM(get_string_len, "json_object_get_string_len") ||
	    !BENCH_SYM(get_int64, "json_object_get_int64") ||
	    !BENCH_SYM(get_double, "json_object_get_double") ||
	    !BENCH_SYM(get_boolean, "json_object_get_boolean")) {
		snprintf(err, errlen, "libjson-c lacks a function: %s",
		         dlerror());
		bench_jsonc_close();
		return false;
	}
	snprintf(version, versionlen, "%s", jc.version());
	/* One tokener, reset per record: json-c's intended fast path. */
	jc.tok = jc.tok_new();
	return jc.tok != NULL;
}

void
bench_jsonc_set_strict(bool strict)
{
	jc.tok_set_flags(jc.tok, strict ? JSON_TOKENER_STRICT |
	                                      JSON_TOKENER_VALIDATE_UTF8
	                                : 0);
}

static int
bench_jsonc_field(const wr_field *f, struct json_object *j, wr_value *v,
                  wr_arena *arena)
{
	enum json_type t = j == NULL ? json_type_null : jc.get_type(j);
	char *p;

	v->type = t == json_type_null ? WR_T_NULL : (uint8_t)f->type;
	if (t == json_type_null)
		return 0;
	switch (f->type) {
	case WR_T_STRING:
		if (t != json_type_string)
			return -1;
		v->u.s.len = (uint32_t)jc.get_string_len(j);
		p = wr_arena_alloc(arena, v->u.s.len);
		if (p == NULL)
			return -1;
		memcpy(p, jc.get_string(j), v->u.s.len);
		v->u.s.p = p;
		return 0;
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		v->u.i = jc.get_int64(j);
		return t == json_type_int ? 0 : -1;
	case WR_T_DOUBLE:
		v->u.d = jc.get_double(j);
		return t == json_type_double || t == json_type_int ? 0 : -1;
	case WR_T_BOOL:
		v->u.b = jc.get_boolean(j);
		return t == json_type_boolean ? 0 : -1;
	default:
		return -1;
	}
}

int
bench_jsonc_decode(const wr_schema *s, const char *json, size_t len,
                   wr_row *out, wr_arena *arena)
{
	struct json_object *root, *j;
	int rv = 0;

	jc.tok_reset(jc.tok);
	root = jc.parse_ex(jc.tok, json, (int)len);
	if (root == NULL || jc.get_error(jc.tok) != json_tokener_success ||
	    jc.parse_end(jc.tok) != len ||
	    jc.get_type(root) != json_type_object) {
		rv = -1;
		goto put_root;
	}
	for (uint32_t i = 0; i < s->n && rv == 0; i++) {
		j = NULL;
		jc.get_ex(root, s->fields[i].name, &j);
		rv = bench_jsonc_field(&s->fields[i], j, &out->v[i], arena);
	}
	out->n = s->n;
put_root:
	if (root != NULL)
		jc.put(root);
	return rv;
}

void
bench_jsonc_close(void)
{
	if (jc.tok != NULL)
		jc.tok_free(jc.tok);
	if (jc.lib != NULL)
		dlclose(jc.lib);
	memset(&jc, 0, sizeof(jc));
}

#else /* libjson-c-dev absent at build time: say so in the table. */

#include <stdio.h>

bool
bench_jsonc_open(char *version, size_t versionlen, char *err, size_t errlen)
{
	snprintf(version, versionlen, "-");
	snprintf(err, errlen, "libjson-c-dev absent at build time");
	return false;
}

void
bench_jsonc_set_strict(bool strict)
{
	(void)strict;
}

int
bench_jsonc_decode(const wr_schema *s, const char *json, size_t len,
                   wr_row *out, wr_arena *arena)
{
	(void)s;
	(void)json;
	(void)len;
	(void)out;
	(void)arena;
	return -1;
}

void
bench_jsonc_close(void)
{
}

#endif
