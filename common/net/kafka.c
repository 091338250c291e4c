/*
 * kafka.c - librdkafka configuration with weir's defaults, and librdkafka's
 * log routed into wr_log (kafka.h).
 */
#include "kafka.h"

#include "err.h"
#include "log.h"
#include "wr_limits.h"

#include <stdio.h>
#include <string.h>

static void
wr_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                const char *buf)
{
	(void)rk;
	/* syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug */
	int wl = level <= 3   ? WR_LOG_ERROR
	         : level == 4 ? WR_LOG_WARN
	         : level <= 6 ? WR_LOG_INFO
	                      : WR_LOG_DEBUG;
	wr_log(wl, "KAFKA-LOG", "%s: %s", fac, buf);
}

rd_kafka_conf_t *
wr_kafka_conf_new(const char *bootstrap)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_conf_set_log_cb(conf, wr_kafka_log_cb);
	if (bootstrap != NULL &&
	    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
	                      sizeof(errstr)) != RD_KAFKA_CONF_OK)
		wr_log(WR_LOG_ERROR, "KAFKA-CONF", "bootstrap.servers: %s",
		       errstr);
	return conf;
}

int
wr_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                  char *errbuf, size_t errlen)
{
	char errstr[256];
	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) ==
	    RD_KAFKA_CONF_OK)
		return WR_OK;
	snprintf(errbuf, errlen, "%s=%s: %s", key, value, errstr);
	return WR_EINVAL;
}

int
wr_kafka_conf_consumer_defaults(rd_kafka_conf_t *conf, char *errbuf,
                                size_t errlen)
{
	/* allow.auto.create.topics: a consumer never creates the topic it
	 * reads (a broker with auto.create.topics.enable would, on a
	 * metadata request allowing it). */
	static const char *const kv[] = {
	    "fetch.wait.max.ms",        "10",
	    "enable.auto.commit",       "false",
	    "enable.auto.offset.store", "false",
	    "isolation.level",          "read_committed",
	    "allow.auto.create.topics", "false",
	};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i += 2) {
		int rv =
		    wr_kafka_conf_set(conf, kv[i], kv[i + 1], errbuf, errlen);
		if (rv != WR_OK)
			return rv;
	}
	return WR_OK;
}

int
wr_kafka_conf_producer_defaults(rd_kafka_conf_t *conf, char *errbuf,
                                size_t errlen)
{
	char v[24];
	snprintf(v, sizeof(v), "%u", WR_KAFKA_MESSAGE_MAX_BYTES);
	return wr_kafka_conf_set(conf, "message.max.bytes", v, errbuf, errlen);
}

const char *
wr_kafka_brokers(rd_kafka_t *rk, char *buf, size_t len)
{
	size_t n = len;
	if (rd_kafka_conf_get(rd_kafka_conf(rk), "bootstrap.servers", buf,
	                      &n) != RD_KAFKA_CONF_OK ||
	    buf[0] == '\0')
		snprintf(buf, len, "?");
	return buf;
}

int
wr_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
	/* Every topic's metadata, never the one topic's: a lookup naming a
	 * missing topic created it on the embedded Kafka (librdkafka 2.0.2's
	 * mock), as it may on a broker with auto.create.topics.enable. */
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err =
	    rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
	int rv = -WR_ENOENT;
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return -WR_ETIMEDOUT;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -WR_EUNREACHABLE;
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];
		if (strcmp(t->topic, topic) != 0)
			continue;
		if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    t->partition_cnt > 0)
			rv = t->partition_cnt;
		break;
	}
	rd_kafka_metadata_destroy(md);
	return rv;
}
