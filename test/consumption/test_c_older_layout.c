/* A C program built against an older robustmq.h, whose struct robustmq_stats lacks the current
 * last field (robustmq_older.h, made by older_header.py), runs with this library: robustmq_stats()
 * must fill the fields the program knows and leave the memory after its struct alone.
 *
 * Exit status 0 if so; 1 with a message naming the bytes written past the struct. */
#include <stdio.h>
#include <string.h>

#include "robustmq_older.h"

enum { kGuardBytes = 1024, kPattern = 0xA5 };

/* The caller's struct with guard bytes right after it, as another variable of the program
 * might lie. */
static struct {
  struct robustmq_stats s;
  unsigned char guard[kGuardBytes];
} caller;

int main(void) {
  robustmq_options* o = robustmq_options_new();
  if (o == NULL || robustmq_options_set_client_id(o, "c-older-layout") != ROBUSTMQ_OK ||
      robustmq_options_set_cache_path(o, "/nonexistent/c-older-layout") != ROBUSTMQ_OK) {
    fprintf(stderr, "options refused\n");
    return 1;
  }
  robustmq_client* c = robustmq_client_new(o); /* never connected: nothing is created */
  robustmq_options_free(o);
  if (c == NULL) {
    fprintf(stderr, "robustmq_client_new() failed\n");
    return 1;
  }

  memset(&caller, kPattern, sizeof caller);
  const int rc = robustmq_stats(c, &caller.s);
  robustmq_client_free(c);

  int bad = 0;
  if (rc != ROBUSTMQ_OK) {
    fprintf(stderr, "robustmq_stats() returned %d: %s\n", rc, robustmq_strerror(rc));
    bad = 1;
  }
  /* The fields this program knows are filled, up to its last one. */
  if (caller.s.state != ROBUSTMQ_STATE_IDLE || caller.s.published != 0 ||
      caller.s.last_error[0] != '\0') {
    fprintf(stderr, "the fields of the caller's struct were not filled (state %d, published "
            "%llu, last_error[0] 0x%02x)\n", caller.s.state,
            (unsigned long long)caller.s.published, (unsigned)(unsigned char)caller.s.last_error[0]);
    bad = 1;
  }
  size_t first = kGuardBytes, last = 0, changed = 0;
  for (size_t i = 0; i < kGuardBytes; ++i) {
    if (caller.guard[i] == kPattern) continue;
    if (first == kGuardBytes) first = i;
    last = i;
    ++changed;
  }
  if (changed != 0) {
    fprintf(stderr, "robustmq_stats() wrote past the caller's %zu-byte struct robustmq_stats: "
            "%zu of the %d guard bytes after it changed (bytes %zu..%zu after its end)\n",
            sizeof caller.s, changed, kGuardBytes, first, last);
    bad = 1;
  }
  if (!bad)
    printf("ok: robustmq_stats() filled the %zu-byte older struct and nothing after it\n",
           sizeof caller.s);
  return bad;
}
