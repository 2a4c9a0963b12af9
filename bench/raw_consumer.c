/* The raw librdkafka baseline: the same at-least-once work consumerd does,
 * written as tightly as C allows. Poll, append each value as a line to a
 * buffer, and per batch: write, fdatasync, store offsets, sync commit.
 * No JSON validation (consumerd validates every record). Fetch settings as
 * consumerd sets them (queued.min.messages), so that the broker side is alike.
 *
 *   raw_consumer BOOTSTRAP TOPIC GROUP COUNT OUT_FILE BATCH
 * Prints: records seconds cpu_seconds batch_p50_ms batch_p99_ms
 * (a batch's latency: its first poll to its commit's answer)
 */
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) { fprintf(stderr, "%s\n", what); exit(1); }

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double *sorted, long n, double q) {
    if (n == 0) return 0;
    long i = (long)(q * n + 0.999999) - 1;
    return sorted[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

int main(int argc, char **argv) {
    if (argc != 7) die("usage: raw_consumer BOOTSTRAP TOPIC GROUP COUNT OUT_FILE BATCH");
    long target = atol(argv[4]), batch_max = atol(argv[6]);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {{"bootstrap.servers", argv[1]}, {"group.id", argv[3]}, {"auto.offset.reset", "earliest"},
                              {"enable.auto.commit", "false"}, {"enable.auto.offset.store", "false"},
                              {"fetch.wait.max.ms", "10"}, {"queued.min.messages", "1000000"}};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) die(err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) die(err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, topics)) die("subscribe failed");
    rd_kafka_topic_partition_list_destroy(topics);

    int fd = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open failed");
    size_t cap = 64 << 20, len = 0;
    char *buf = malloc(cap);
    int64_t last[1024];
    for (int i = 0; i < 1024; i++) last[i] = -1;
    long total = 0, in_batch = 0, batches = 0;
    double *latencies = malloc(sizeof(double) * (target / (batch_max > 0 ? batch_max : 1) + 2 + target / 100));
    double start = 0, batch_start = 0, cpu_start = 0;
    while (total < target) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, in_batch ? 10 : 100);
        if (m) {
            if (!m->err) {
                if (!start) { start = now(); cpu_start = cpu(); }
                if (!in_batch) batch_start = now();
                if (len + m->len + 1 > cap) die("buffer full");
                memcpy(buf + len, m->payload, m->len);
                len += m->len;
                buf[len++] = '\n';
                if (m->partition < 1024) last[m->partition] = m->offset;
                in_batch++;
                total++;
            }
            rd_kafka_message_destroy(m);
        }
        if (in_batch && (in_batch >= batch_max || total >= target || now() - batch_start > 1.0)) {
            for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, buf + off, len - off);
                if (n < 0) die("write failed");
                off += n;
            }
            fdatasync(fd);
            len = 0;
            rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
            for (int p = 0; p < 1024; p++)
                if (last[p] >= 0) rd_kafka_topic_partition_list_add(offsets, argv[2], p)->offset = last[p] + 1;
            rd_kafka_offsets_store(rk, offsets);
            rd_kafka_topic_partition_list_destroy(offsets);
            rd_kafka_commit(rk, NULL, 0);
            latencies[batches++] = (now() - batch_start) * 1000;
            in_batch = 0;
        }
    }
    double seconds = now() - start, cpu_seconds = cpu() - cpu_start;
    qsort(latencies, batches, sizeof(double), by_value);
    printf("%ld %.3f %.3f %.2f %.2f\n", total, seconds, cpu_seconds, quantile(latencies, batches, 0.5),
           quantile(latencies, batches, 0.99));
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
