/* RobustMQ from C: publishes COUNT messages ("0", "1", ...) on TOPIC, waits until the broker
 * acknowledged the last of them, prints the counters and stops. Before it connects it prints
 * what the drop journal says became of earlier runs' messages; its callbacks print the
 * delivered sequence numbers, drops with their reason, and the connection's states. Messages
 * carry the user properties robustmq-producer and robustmq-seq (dedup_property, MQTT 5), by
 * which a consumer drops duplicates (README "Deduplication for consumers").
 *
 *   robustmq-c-example HOST PORT CACHE_DIR [COUNT [TOPIC]]
 *
 * Exit status: 0 every message delivered, 1 usage, 2 connect_async failed, 3 a publish was
 * refused, 4 not delivered within 30 s (the messages wait on disk for the next run). */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <robustmq/robustmq.h>

/* Event callbacks: they run on a thread of the library, one at a time, in order. */
static void on_delivered(void* ctx, uint64_t first, uint64_t last) {
  (void)ctx;
  printf("delivered: %llu..%llu\n", (unsigned long long)first, (unsigned long long)last);
}
static void on_dropped(void* ctx, const struct robustmq_dropped_range* r) {
  (void)ctx;
  printf("dropped: %llu..%llu, %s", (unsigned long long)r->first, (unsigned long long)r->last,
         robustmq_drop_reason_name(r->reason));
  if (r->reason == ROBUSTMQ_DROP_REFUSED) printf(" (MQTT 5 reason code 0x%02x)", r->reason_code);
  printf("\n");
}
static void on_connection(void* ctx, int state, const char* reason) {
  (void)ctx;
  printf("connection: %s%s%s\n", robustmq_state_name(state), *reason != '\0' ? ": " : "", reason);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s HOST PORT CACHE_DIR [COUNT [TOPIC]]\n", argv[0]);
    return 1;
  }
  const char* host = argv[1];
  const int port = atoi(argv[2]);
  const char* cache_dir = argv[3];
  const long count = argc > 4 ? atol(argv[4]) : 20;
  const char* topic = argc > 5 ? argv[5] : "robustmq/c-example";

  robustmq_options* options = robustmq_options_new();
  if (options == NULL) return 2;
  int rc = robustmq_options_set_client_id(options, "c-example");
  if (rc == ROBUSTMQ_OK) rc = robustmq_options_set_cache_path(options, cache_dir);
  if (rc == ROBUSTMQ_OK) rc = robustmq_options_set_cache_type(options, ROBUSTMQ_CACHE_FILE);
  if (rc == ROBUSTMQ_OK) rc = robustmq_options_set_reconnect_ms(options, 50, 1000);
  /* For a broker that speaks only MQTT 3.1.1, leave out these two. */
  if (rc == ROBUSTMQ_OK) rc = robustmq_options_set_mqtt_version(options, ROBUSTMQ_MQTT_5);
  if (rc == ROBUSTMQ_OK) rc = robustmq_options_set_dedup_property(options, 1);
  if (rc != ROBUSTMQ_OK) {
    fprintf(stderr, "options: %s\n", robustmq_strerror(rc));
    robustmq_options_free(options);
    return 2;
  }
  robustmq_client* client = robustmq_client_new(options);
  robustmq_options_free(options); /* the client has its own copy */
  if (client == NULL) return 2;

  /* What became of earlier runs' messages that were not delivered (robustmq_delivered_through()
   * covers the rest once connected): the newest ranges of the drop journal. */
  struct robustmq_dropped_range drops[8];
  size_t held = 0;
  if (robustmq_read_drop_journal(client, drops, 8, &held) == ROBUSTMQ_OK && held > 0) {
    const size_t shown = held < 8 ? held : 8;
    printf("drop journal: %zu ranges, the first %zu:\n", held, shown);
    for (size_t k = 0; k < shown; ++k) on_dropped(NULL, &drops[k]);
  }

  robustmq_set_delivered_callback(client, on_delivered, NULL);
  robustmq_set_dropped_callback(client, on_dropped, NULL);
  robustmq_set_connection_callback(client, on_connection, NULL);
  rc = robustmq_connect_async(client, host, port);
  if (rc != ROBUSTMQ_OK) {
    char why[512];
    robustmq_last_error(client, why, sizeof why);
    fprintf(stderr, "connect_async: %s: %s\n", robustmq_strerror(rc), why);
    robustmq_client_free(client);
    return 2;
  }

  /* Publishing before the broker connection is up is fine (messages wait in the cache); the
   * example waits up to 10 s so that its messages go out live. robustmq_stats() passes sizeof s
   * with it: a later library with more counters fills only what this program's struct holds. */
  for (int tries = 0; tries < 100; ++tries) {
    struct robustmq_stats s;
    if (robustmq_stats(client, &s) == ROBUSTMQ_OK && s.state == ROBUSTMQ_STATE_CONNECTED) break;
    nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 100000000}, NULL);
  }

  int status = 0;
  uint64_t last = 0; /* the sequence number of this run's last message */
  for (long i = 0; i < count; ++i) {
    char payload[32];
    const int len = snprintf(payload, sizeof payload, "%ld", i);
    rc = robustmq_publish_seq(client, topic, payload, (size_t)len, 1, 0, &last);
    if (rc == ROBUSTMQ_ERR_QUEUE_FULL) { /* the worker is behind: nothing was queued, retry */
      --i;
      continue;
    }
    if (rc != ROBUSTMQ_OK) {
      fprintf(stderr, "publish %ld: %s\n", i, robustmq_strerror(rc));
      status = 3;
      break;
    }
  }
  /* Wait up to 30 s until the broker has every message up to this run's last (and so any an
   * earlier run left). If the broker is away that long, make sure everything is on disk
   * (robustmq_flush) and leave: the next run with the same client id and cache directory sends
   * it. */
  if (status == 0 && last > 0) {
    rc = robustmq_wait_delivered_seq(client, last, 30000);
    if (rc != ROBUSTMQ_OK) {
      const int frc = robustmq_flush(client, 30000);
      fprintf(stderr, "not delivered within 30 s (%s); %s\n", robustmq_strerror(rc),
              frc == ROBUSTMQ_OK ? "the rest waits in the disk cache" : robustmq_strerror(frc));
      status = 4;
    }
  }
  printf("delivered through sequence number %llu\n",
         (unsigned long long)robustmq_delivered_through(client));

  struct robustmq_stats s;
  if (robustmq_stats(client, &s) == ROBUSTMQ_OK) {
    printf("state %s, published %llu, acknowledged %llu, refused %llu, cached %llu, worker pid %d\n",
           robustmq_state_name(s.state), (unsigned long long)s.published,
           (unsigned long long)s.acknowledged, (unsigned long long)s.refused,
           (unsigned long long)s.cached, s.worker_pid);
    /* Messages the broker refused for good wait in the dead-letter store until someone sends
     * them again (robustmq_resend_dead_letters(), or robustmq-cache resend) or deletes them. */
    if (s.dead_letters > 0)
      printf("%llu dead letters: list them with `robustmq-cache dead %s`\n",
             (unsigned long long)s.dead_letters, cache_dir);
  }
  robustmq_client_free(client); /* stop(): whatever is not acknowledged waits on disk */
  return status;
}
