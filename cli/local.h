/* local.h - pieces of `weir local` shared between its files. */
#ifndef CLI_LOCAL_H
#define CLI_LOCAL_H

struct cli_lkafka;
struct wr_rpc_req;

/* Answers one admin request (topic creation). @thread local main */
void cli_local_dispatch(struct cli_lkafka *k, struct wr_rpc_req *req);

/* Parses "NAME:PARTITIONS" (":PARTITIONS" optional, default 1) into name
 * (namelen bytes) and *partitions. Returns 0 or -1. */
int cli_topic_spec(const char *spec, char *name, unsigned namelen,
                   int *partitions);

/* The admin address file inside a local cluster's directory. */
#define CLI_LOCAL_ADMIN_FILE "admin.address"

#endif
