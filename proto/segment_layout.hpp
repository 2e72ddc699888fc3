// The shared-memory segment between one RobustClient and its worker. Layout version 2.
//
// Only offsets live in shared memory, never pointers. Every field is either written by exactly
// one side (noted below) or is an atomic counter; there is no inter-process lock, so a process
// killed at any instruction leaves the other side able to go on.
//
//   offset  size  block         written by
//   0       64    SegmentHeader creator (once, before the magic is stored with release order)
//   64      64    ProducerLine  client: head (release), next_seq (release, after head)
//   128     64    ConsumerLine  worker: tail (release) after ack or cache commit
//   192     64    WakeLine      both: the wake-up handshake (described at WakeLine)
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

#include "robustmq/client.hpp"

namespace robustmq::shm {

inline constexpr std::uint64_t kMagic = 0x31'51'4d'54'53'42'52'00ULL;  // "\0RBSTMQ1"

// SegmentHeader::layout_version. A change of anything either side reads or writes here, of
// the record format (record_format.hpp) or of a number stored here (the static_asserts at the
// end) takes a new version; a reader refuses versions outside
// [kOldestLayoutVersion, kLayoutVersion].
//   1  The first layout; ring records with flags bits 3-7 zero (record format 1). Releases
//      that added large messages went on writing version 1 while their records could carry
//      flags bit 3 (a reference to a large message's file, record format 2), which a reader
//      without large messages drops as damaged.
//   2  The bytes of the last version-1 release; records may carry flags bit 3. A reader that
//      knows nothing of large messages refuses the segment instead of dropping them. Version-1
//      segments are still read (their records are a subset) and are marked 2 when a client
//      adopts them.
inline constexpr std::uint32_t kLayoutVersion = 2;
inline constexpr std::uint32_t kOldestLayoutVersion = 1;
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
  // The sequence number of the next message (RobustClient::publish()), stored with release
  // after the head that holds the previous one: a reader that loads next_seq (acquire) and then
  // head finds every message numbered below it in [tail, head) or already gone from the ring.
  // Numbers increase across lives: a new segment starts where <cache>/robustmq.seq says
  // (lib/sequence_file.hpp), never at 0.
  std::atomic<std::uint64_t> next_seq;
};

struct alignas(64) ConsumerLine {
  std::atomic<std::uint64_t> tail;  // start of the first record not yet acked or cached
};

// The wake-up handshake. Whichever side may block announces it in this line, then re-checks
// for work; whichever side makes work for the other publishes it, then looks for an
// announcement. Each does "store; seq_cst fence; load", in opposite orders (Dekker's pattern),
// so at least one of the two sees the other's store: either the side about to block finds the
// work, or the side that made it finds the announcement and wakes it. No wake-up is lost, and
// nobody makes a system call for a peer that is not about to block.
//
// Client -> worker: new records in the ring (and a new flush target).
//   worker, Loop::wait_for_work(), only when it could send or spool new records right now:
//     W1  worker_sleeping = 1 (seq_cst store)
//     W2  seq_cst fence
//     W3  re-read head (acquire); records to take: worker_sleeping = 0, do not block
//     W4  poll() the lifeline socket (and the Paho event fd) until the next deadline
//     W5  worker_sleeping = 0; read and discard the wake-up bytes
//   client, RobustClient::Impl::wake_worker(), after publish() stored head (release) and in
//   every round of wait_for_worker() (C5 below):
//     P1  seq_cst fence
//     P2  worker_sleeping != 0 (relaxed load) and exchange(worker_sleeping, 0) != 0: send one
//         byte on the lifeline socket (MSG_DONTWAIT)
//   If P2 misses W1, W2 precedes P1 and W3 sees the new head. If P2 sees it, the byte waits in
//   the socket until read, so it ends W4 even if sent before W4 began. The exchange lets one
//   byte through per announcement, however many client threads see it; a 0 stored after W1
//   (by another thread's exchange, or by W3 or W5) means the announcement was answered. A
//   worker that can do nothing with new records now (connected with a full window, say) does
//   not announce: publish() then makes no system call, and the worker's next event (an
//   acknowledgement, a connection, a deadline) brings it back to W3. A 1 left by a dead
//   worker costs its successor one spurious wake-up.
//
// Worker -> client: the tail moved (room in the ring, flush progress) or the state changed.
//   client, RobustClient::Impl::wait_for_worker(), each round:
//     C1  client_waiters += 1 (seq_cst)
//     C2  w = client_word (seq_cst)
//     C3  seq_cst fence
//     C4  re-check its condition (tail, acquire); it holds or the deadline passed:
//         client_waiters -= 1, done
//     C5  wake_worker() (P1, P2): a worker asleep with records to take gets to them
//     C6  futex_wait(client_word, w), at most 200 ms; client_waiters -= 1; next round
//   worker, Loop::notify_client(), after advance_tail() stored tail (release) and after every
//   change of StatusBlock::state:
//     N1  seq_cst fence
//     N2  client_waiters != 0 (relaxed load): client_word += 1 (seq_cst), futex_wake_all()
//   If N2 misses C1, N1 precedes C3 and C4 sees the new tail. If N2 sees it, the bump either
//   comes after C2, and futex_wait() (which blocks only while client_word == w) returns at
//   once or is woken, or C2 read it, and what C2 read was stored after the tail, so C4 sees
//   the new tail. The 200 ms bound only limits what a worker killed between its tail store
//   and N2 costs.
struct alignas(64) WakeLine {
  std::atomic<std::uint32_t> worker_sleeping;  // 1: the worker is about to block (W1)
  std::atomic<std::uint32_t> client_word;      // futex word: the worker bumps it (N2)
  std::atomic<std::uint32_t> client_waiters;   // client threads between C1 and C6's end
};

struct alignas(64) ControlLine {
  std::atomic<std::uint32_t> stop_requested;  // client: spool everything, disconnect, exit
  std::atomic<std::uint32_t> worker_pid;      // worker: its pid, for stats and error messages
  std::atomic<std::uint64_t> flush_target;    // client: make every byte before this durable
  // Added after version 2 without a new version (0 reads as "none" to a side that does not know
  // it): the pid of a new application that takes over from this worker, an orphan whose
  // application died (lib/takeover.cpp). Set before the new client sends the orphan SIGTERM,
  // cleared once the orphan is gone; the orphan only logs it.
  std::atomic<std::uint32_t> takeover_by;
  // Added the same way. client: 1 when it found no usable bound of the sequence numbers
  // (lib/sequence_file.hpp), before it starts the worker; worker: raises next_seq above the
  // highest number in the disk cache, then stores 0, before it reports running (the client does
  // not publish before that). A cache it cannot read: 2, the new numbers may overlap the cached
  // ones, which then move no receipt; the worker stores 0 once the cache is empty. 0 from a side
  // that does not know it: no raise.
  std::atomic<std::uint32_t> seq_unknown;
  // Added the same way. client: RobustClient::resend_dead_letters() adds 1 (and sends a
  // wake-up byte); worker: once it has moved the dead-letter store back into the disk cache
  // (Loop::serve_resend()), stores the number moved in dead_resend_moved and then the request
  // it served in dead_resend_done (release), and wakes the client (N1-N2 below). A worker that
  // does not know them never answers: the call times out.
  std::atomic<std::uint64_t> dead_resend_request;
  std::atomic<std::uint64_t> dead_resend_done;
  std::atomic<std::uint64_t> dead_resend_moved;
  // Added the same way. client: 1 while RobustClient::set_credentials_handler() holds a handler;
  // worker: before each connection attempt, while the application lives, asks for credentials
  // over the lifeline when it is 1 (proto/lifeline.hpp). 0 from a client that does not know it:
  // the worker never asks.
  std::atomic<std::uint32_t> credentials_handler;
  // Added the same way. client: 1 while RobustClient::set_log_handler() holds a handler; worker:
  // sends the lines it logs over the log socket when it is 1, while the application lives
  // (proto/log_line.hpp). 0 from a client that does not know it: the worker writes them itself.
  std::atomic<std::uint32_t> log_handler;
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
  std::atomic<std::uint32_t> state;  // robustmq::ConnectionState, as the numbers asserted below
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
  // Appended after version 2 without a new version: a counter that starts at 0 reads the same
  // to a side that does not know it (an older worker leaves it 0, an older client ignores it).
  std::atomic<std::uint64_t> worker_wakeups;  // worker: returns from its wait for work
  // worker: the highest sequence number such that every message numbered up to it was
  // acknowledged by the broker or dropped (RobustClient::delivered_through()). Only grows; a
  // worker that does not know it leaves it 0 ("none"), which makes wait_delivered() time out
  // rather than return early.
  std::atomic<std::uint64_t> delivered_through;
  // worker: messages the broker refused for good (MQTT 5 reason code >= 0x80), not counted in
  // acknowledged.
  std::atomic<std::uint64_t> refused;
  // worker: the serial the next record of the drop journal (proto/drop_journal.hpp) gets,
  // stored (release) after each record is written and before delivered_through passes its
  // numbers; the newest record (drop_next - 1) may still be extended in place. A new worker
  // leaves its predecessor's value until it has opened the journal. 0: no worker of this
  // segment has opened one; drops that cannot be recorded are reported through
  // unknown_through.
  std::atomic<std::uint64_t> drop_next;
  // worker: every number up to this one whose fate is not in the journal is unknown (it was
  // dropped without a usable number or a journal record). Only grows; stored before
  // delivered_through passes it.
  std::atomic<std::uint64_t> unknown_through;
  // worker: refusals that mean "not now" (MQTT 5 0x89, 0x91, 0x97): sent again after a backoff.
  std::atomic<std::uint64_t> refused_for_now;
  // worker: messages in the dead-letter store now (worker/dead_letters.hpp); 0 from a worker
  // that does not know it.
  std::atomic<std::uint64_t> dead_letters;
  // Appended the same way (several brokers). worker: the broker URI it is connected to, or
  // while connecting is trying (Stats::server); never written by a worker that does not know
  // it, which reads as "".
  StatusText server;
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
static_assert(sizeof(ControlLine) == 64);
static_assert(sizeof(Segment) <= kRingOffset);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Enumerations stored here, by number: the worker writes StatusBlock::state as a uint32 and the
// client casts it back to the public enum. Renumbering them takes a new layout version.
// (Records carry no enumeration: their flags are the bits of record_format.hpp.)
static_assert(static_cast<std::uint32_t>(ConnectionState::idle) == 0);
static_assert(static_cast<std::uint32_t>(ConnectionState::connecting) == 1);
static_assert(static_cast<std::uint32_t>(ConnectionState::connected) == 2);
static_assert(static_cast<std::uint32_t>(ConnectionState::disconnected) == 3);
static_assert(static_cast<std::uint32_t>(ConnectionState::stopped) == 4);
static_assert(static_cast<std::uint32_t>(ConnectionState::refused) == 5);

}  // namespace robustmq::shm
