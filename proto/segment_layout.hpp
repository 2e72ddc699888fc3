// The shared-memory segment between one RobustClient and its worker. Layout version 1.
//
// Only offsets live in shared memory, never pointers. Every field is either written by exactly
// one side (noted below) or is an atomic counter; there is no inter-process lock, so a process
// killed at any instruction leaves the other side able to go on.
//
//   offset  size  block         written by
//   0       64    SegmentHeader creator (once, before the magic is stored with release order)
//   64      64    ProducerLine  client: head (release), next_seq
//   128     64    ConsumerLine  worker: tail (release) after ack or cache commit
//   192     64    WakeLine      both: futex words and "I am sleeping" flags
//   256     64    ControlLine   client: stop, flush target; worker: pid
//   320     ...   StatusBlock   worker: counters and last error (seqlock)
//   4096    N     ring bytes    client writes [head, ...), worker reads [tail, head)
//
// Invariants:
//   1. tail <= head, head - tail <= ring_bytes; both are free-running byte counts that never wrap.
//   2. A record in [tail, head) is complete: the client publishes head only after the record's
//      bytes are written (release store), the worker reads head with acquire.
//   3. Every message before tail was acknowledged by the broker or committed to the disk cache.
//      A successor of a dead worker therefore starts at tail and loses nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace robustmq::shm {

inline constexpr std::uint64_t kMagic = 0x31'51'4d'54'53'42'52'00ULL;  // "\0RBSTMQ1"
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::size_t kRingOffset = 4096;
inline constexpr std::size_t kMinRingBytes = 64u << 10;
inline constexpr std::size_t kMaxRingBytes = 1u << 30;
inline constexpr std::size_t kLastErrorBytes = 240;

struct alignas(64) SegmentHeader {
  std::atomic<std::uint64_t> magic;  // stored last by the creator
  std::uint32_t layout_version;
  std::uint32_t ring_offset;
  std::uint64_t ring_bytes;          // a power of two
  std::uint32_t creator_uid;
  std::uint32_t reserved;
};

struct alignas(64) ProducerLine {
  std::atomic<std::uint64_t> head;      // end of the last complete record
  std::atomic<std::uint64_t> next_seq;  // sequence number of the next message
};

struct alignas(64) ConsumerLine {
  std::atomic<std::uint64_t> tail;  // start of the first record not yet acked or cached
};

struct alignas(64) WakeLine {
  std::atomic<std::uint32_t> worker_sleeping;  // worker is (about to be) blocked; wake it
  std::atomic<std::uint32_t> client_word;      // futex: bumped by the worker when tail moves
  std::atomic<std::uint32_t> client_waiters;   // number of client threads blocked on client_word
};

struct alignas(64) ControlLine {
  std::atomic<std::uint32_t> stop_requested;  // client: spool everything, disconnect, exit
  std::atomic<std::uint32_t> worker_pid;      // worker: its pid, for stats and error messages
  std::atomic<std::uint64_t> flush_target;    // client: make every byte before this durable
};

// A message the worker writes and the client reads; seq is a seqlock (odd while writing), so a
// reader that races a writer retries, and a writer killed half-way leaves seq odd: readers then
// give up after a few tries (see status_text.hpp) instead of waiting forever.
struct StatusText {
  std::atomic<std::uint32_t> seq;
  std::atomic<std::int64_t> time_ns;  // CLOCK_REALTIME when written
  char text[kLastErrorBytes];
};

// Counters only grow; the client reads them without coordination.
struct StatusBlock {
  std::atomic<std::uint32_t> state;  // robustmq::ConnectionState
  std::atomic<std::uint64_t> sent;
  std::atomic<std::uint64_t> acknowledged;
  std::atomic<std::uint64_t> cached;
  std::atomic<std::uint64_t> dropped_invalid;
  std::atomic<std::uint64_t> queue_full;   // client-side counter, kept here so it survives
  std::atomic<std::uint64_t> published;    // client-side counter, kept here so it survives
  std::atomic<std::uint64_t> reconnects;
  std::atomic<std::uint64_t> worker_restarts;  // client-side
  std::atomic<std::uint64_t> ring_messages_read;  // worker: records consumed from the ring
  std::atomic<std::uint64_t> cache_backlog;
  std::atomic<std::uint64_t> cache_backlog_bytes;
  std::atomic<std::uint64_t> dropped_expired;
  std::atomic<std::uint64_t> dropped_overflow;
  std::atomic<std::uint64_t> connect_attempts;
  std::atomic<std::int64_t> oldest_enqueue_ns;  // worker: oldest unacknowledged message, 0: none
  StatusText last_error;   // the most recent problem of any kind
  StatusText cache_error;  // the disk cache's current problem; empty while it works
};

struct Segment {
  SegmentHeader header;
  ProducerLine producer;
  ConsumerLine consumer;
  WakeLine wake;
  ControlLine control;
  StatusBlock status;
};

static_assert(sizeof(SegmentHeader) == 64);
static_assert(offsetof(Segment, producer) == 64);
static_assert(offsetof(Segment, consumer) == 128);
static_assert(offsetof(Segment, wake) == 192);
static_assert(offsetof(Segment, control) == 256);
static_assert(offsetof(Segment, status) == 320);
static_assert(sizeof(Segment) <= kRingOffset);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

}  // namespace robustmq::shm
