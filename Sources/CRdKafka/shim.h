#ifndef CONSUMERD_CRDKAFKA_SHIM_H
#define CONSUMERD_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <regex.h>

// Macros with casts do not import into Swift; expose them as constants.
static const int32_t crd_partition_unassigned = RD_KAFKA_PARTITION_UA;
static const int64_t crd_offset_beginning = RD_KAFKA_OFFSET_BEGINNING;
static const int64_t crd_offset_end = RD_KAFKA_OFFSET_END;
static const int64_t crd_offset_stored = RD_KAFKA_OFFSET_STORED;
static const int64_t crd_offset_invalid = RD_KAFKA_OFFSET_INVALID;

// rd_kafka_producev is variadic; Swift cannot call it. One fixed-shape call
// covers every produce we make: topic, optional key, value, headers, opaque.
// Headers ownership passes to librdkafka on success only.
static inline rd_kafka_resp_err_t crd_produce(rd_kafka_t *rk,
                                              const char *topic,
                                              int32_t partition,
                                              const void *key, size_t key_len,
                                              const void *value, size_t value_len,
                                              rd_kafka_headers_t *headers,
                                              void *opaque) {
    if (headers != NULL) {
        return rd_kafka_producev(rk,
                                 RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY((void *)key, key_len),
                                 RD_KAFKA_V_VALUE((void *)value, value_len),
                                 RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_OPAQUE(opaque),
                                 RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk,
                             RD_KAFKA_V_TOPIC(topic),
                             RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY((void *)key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

// librdkafka compiles subscription patterns with the platform's POSIX
// extended regex; compiling with the same engine tells us up front whether a
// pattern will be accepted. Returns 0 when valid, else writes the reason.
static inline int crd_check_regex(const char *pattern, char *errstr, size_t errstr_size) {
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &re, errstr, errstr_size);
        return rc;
    }
    regfree(&re);
    return 0;
}

#endif
