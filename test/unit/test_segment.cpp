// Rules of the shared-memory segment (proto/segment.hpp, layout in proto/segment_layout.hpp), with
// real POSIX shared memory, in the directory Boost.Interprocess's objects live in. Every name
// carries this process's pid, and every segment a test creates (including ones moved aside) is
// removed when the test ends.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "printers.hpp"
#include "proto/ring.hpp"
#include "proto/segment.hpp"

using namespace robustmq;
using Origin = MappedSegment::Origin;
namespace fs = std::filesystem;
namespace bip = boost::interprocess;

namespace {

// The directory of Boost's shared memory objects: that of the file behind one made for the
// purpose (segment_file() is checked against Boost's own descriptor below).
const fs::path& shm_dir() {
  static const fs::path dir = [] {
    const std::string probe = "robustmq-unit-" + std::to_string(::getpid()) + "-probe";
    bip::shared_memory_object::remove(probe.c_str());
    { const bip::shared_memory_object obj(bip::create_only, probe.c_str(), bip::read_write); }
    const fs::path file = segment_file(probe);
    bip::shared_memory_object::remove(probe.c_str());
    return file.parent_path();
  }();
  return dir;
}

// The identity of a file: device and inode.
std::pair<dev_t, ino_t> identity(const struct stat& st) { return {st.st_dev, st.st_ino}; }

// A segment name unique to this process and test, removed (with anything moved aside from it)
// on scope exit.
class ScratchName {
 public:
  explicit ScratchName(const char* tag)
      : name_("robustmq-unit-" + std::to_string(::getpid()) + "-" + tag) {
    remove_all();
  }
  ~ScratchName() { remove_all(); }
  ScratchName(const ScratchName&) = delete;
  ScratchName& operator=(const ScratchName&) = delete;

  const std::string& name() const { return name_; }
  fs::path path() const { return shm_dir() / name_; }

  // Files of the shared memory directory that were moved aside from this name.
  std::vector<fs::path> moved_aside() const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(shm_dir(), ec)) {
      const std::string file = e.path().filename().string();
      if (file.size() > name_.size() && file.compare(0, name_.size(), name_) == 0) out.push_back(e.path());
    }
    return out;
  }

 private:
  void remove_all() const {
    MappedSegment::unlink(name_);
    for (const auto& p : moved_aside()) {
      std::error_code ec;
      fs::remove(p, ec);
    }
  }
  std::string name_;
};

MappedSegment create(const std::string& name, std::size_t ring_bytes, Origin& origin,
                     std::string& note) {
  return MappedSegment::create_or_adopt(name, ring_bytes, origin, note);
}

// Resizes the file behind a segment, as a crash in the middle of creating it or a foreign
// program could leave it.
void truncate_file(const fs::path& path, off_t bytes) {
  const int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  CHECK(::ftruncate(fd, bytes) == 0);
  ::close(fd);
}

record::MessageView message(std::uint64_t seq, std::string_view topic, std::string_view payload) {
  record::MessageView m;
  m.seq = seq;
  m.qos = 1;
  m.topic = topic;
  m.payload = payload;
  return m;
}

}  // namespace

TEST_CASE("a segment name is stable, depends on both inputs and is a valid shm name") {
  const fs::path dir = "/var/lib/app/cache";
  const std::string a = segment_name(dir, "client-1");
  CHECK(a == segment_name(dir, "client-1"));
  CHECK(a != segment_name(dir, "client-2"));
  CHECK(a != segment_name("/var/lib/app/cache2", "client-1"));
  CHECK(a != segment_name(dir, ""));
  // The boundary between directory and client id is part of the name.
  CHECK(segment_name("/a/b", "c") != segment_name("/a", "b/c"));
  CHECK(segment_name("/ab", "c") != segment_name("/a", "bc"));

  for (const std::string& name : {a, segment_name("/", ""), segment_name(dir, std::string(4096, 'x'))}) {
    CAPTURE(name);
    REQUIRE(name.size() == 9 + 16);
    CHECK(name.rfind("robustmq-", 0) == 0);
    CHECK(name.find_first_not_of("0123456789abcdef", 9) == std::string::npos);
  }
}

TEST_CASE("ring_size_for rounds up to a power of two within the ring size bounds") {
  struct Row {
    std::size_t requested, expected;
  };
  const Row table[] = {
      {0, shm::kMinRingBytes},
      {1, shm::kMinRingBytes},
      {shm::kMinRingBytes - 1, shm::kMinRingBytes},
      {shm::kMinRingBytes, shm::kMinRingBytes},
      {shm::kMinRingBytes + 1, 2 * shm::kMinRingBytes},
      {(8u << 20) - 1, 8u << 20},
      {8u << 20, 8u << 20},
      {(8u << 20) + 1, 16u << 20},
      {shm::kMaxRingBytes, shm::kMaxRingBytes},
      {shm::kMaxRingBytes + 1, shm::kMaxRingBytes},
      {SIZE_MAX, shm::kMaxRingBytes},
  };
  for (const auto& row : table) {
    CAPTURE(row.requested);
    const std::size_t got = ring_size_for(row.requested);
    CHECK(got == row.expected);
    CHECK((got & (got - 1)) == 0);
  }
}

TEST_CASE("create_or_adopt creates a zeroed segment readable and writable by its owner only") {
  ScratchName scratch("create");
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    CAPTURE(mask);
    MappedSegment::unlink(scratch.name());
    const mode_t old_mask = ::umask(mask);
    Origin origin = Origin::adopted;
    std::string note;
    auto seg = create(scratch.name(), 100'000, origin, note);
    ::umask(old_mask);

    CHECK(origin == Origin::created);
    CHECK(seg.ring_bytes() == 128u << 10);
    const auto& h = seg.segment().header;
    CHECK(h.magic.load() == shm::kMagic);
    CHECK(h.layout_version == shm::kLayoutVersion);
    CHECK(h.ring_offset == shm::kRingOffset);
    CHECK(h.ring_bytes == 128u << 10);
    CHECK(h.creator_uid == ::geteuid());
    CHECK(seg.segment().producer.head.load() == 0);
    CHECK(seg.segment().consumer.tail.load() == 0);
    CHECK(seg.ring() == reinterpret_cast<std::byte*>(&seg.segment()) + shm::kRingOffset);

    struct stat st {};
    REQUIRE(::stat(scratch.path().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_uid == ::geteuid());
    CHECK(static_cast<std::size_t>(st.st_size) == shm::kRingOffset + (128u << 10));
  }
}

TEST_CASE("a second create_or_adopt adopts the segment with the head, tail and records left in it") {
  ScratchName scratch("adopt");
  const std::string payload = "reading 17.5 C";
  std::uint64_t head = 0;
  {
    Origin origin;
    std::string note;
    auto seg = create(scratch.name(), 64 << 10, origin, note);
    REQUIRE(origin == Origin::created);
    seg.segment().producer.head.store(1000 * 8);
    seg.segment().consumer.tail.store(1000 * 8);
    RingProducer producer(seg.segment().producer, seg.segment().consumer, seg.ring(), seg.ring_bytes());
    REQUIRE(producer.try_push(message(5, "plant/1", payload)));
    REQUIRE(producer.try_push(message(6, "plant/1", payload)));
    head = producer.head();
    seg.segment().status.published.store(2);
  }  // the "application" dies: its mapping goes away, the segment stays

  Origin origin = Origin::created;
  std::string note;
  // A different requested size does not replace a usable segment: its messages would be lost.
  auto seg = create(scratch.name(), 1 << 20, origin, note);
  CHECK(origin == Origin::adopted);
  CHECK(seg.ring_bytes() == 64u << 10);
  CHECK(seg.segment().producer.head.load() == head);
  CHECK(seg.segment().consumer.tail.load() == 1000 * 8);
  CHECK(seg.segment().status.published.load() == 2);
  RingConsumer consumer(seg.segment().producer, seg.segment().consumer, seg.ring(), seg.ring_bytes());
  RingConsumer::Item item;
  REQUIRE(consumer.read_at(consumer.tail(), item) == RingConsumer::Status::item);
  CHECK(item.message.seq == 5);
  CHECK(item.message.payload == payload);
  REQUIRE(consumer.read_at(item.end, item) == RingConsumer::Status::item);
  CHECK(item.message.seq == 6);
  CHECK(item.end == head);
  CHECK(scratch.moved_aside().empty());
}

TEST_CASE("two mappings of one segment share their bytes") {
  ScratchName scratch("share");
  Origin origin;
  std::string note;
  auto client = create(scratch.name(), 64 << 10, origin, note);
  auto worker = MappedSegment::open_existing(scratch.name());
  REQUIRE(worker.ring_bytes() == client.ring_bytes());
  CHECK(&worker.segment() != &client.segment());

  RingProducer producer(client.segment().producer, client.segment().consumer, client.ring(), client.ring_bytes());
  RingConsumer consumer(worker.segment().producer, worker.segment().consumer, worker.ring(), worker.ring_bytes());
  REQUIRE(producer.try_push(message(1, "a/b", "hello")));
  RingConsumer::Item item;
  REQUIRE(consumer.read_at(consumer.tail(), item) == RingConsumer::Status::item);
  CHECK(item.message.payload == "hello");
  consumer.advance_tail(item.end);
  CHECK(client.segment().consumer.tail.load() == item.end);
}

TEST_CASE("an unusable segment is moved aside and a fresh one is created") {
  struct Row {
    const char* rule;
    void (*damage)(MappedSegment&, const fs::path&);
  };
  const Row table[] = {
      {"a wrong magic",
       [](MappedSegment& s, const fs::path&) { s.segment().header.magic.store(0x1234); }},
      {"no magic: its creator died before finishing",
       [](MappedSegment& s, const fs::path&) { s.segment().header.magic.store(0); }},
      {"a wrong layout version",
       [](MappedSegment& s, const fs::path&) { s.segment().header.layout_version = 99; }},
      {"layout version 0",
       [](MappedSegment& s, const fs::path&) { s.segment().header.layout_version = 0; }},
      {"a layout version newer than this library's",
       [](MappedSegment& s, const fs::path&) {
         s.segment().header.layout_version = shm::kLayoutVersion + 1;
       }},
      {"a ring size that is not a power of two",
       [](MappedSegment& s, const fs::path&) { s.segment().header.ring_bytes = 100'000; }},
      {"a ring size that disagrees with the file's size",
       [](MappedSegment& s, const fs::path&) { s.segment().header.ring_bytes = 128u << 10; }},
      {"a file larger than the header says",
       [](MappedSegment&, const fs::path& p) { truncate_file(p, shm::kRingOffset + (128 << 10)); }},
      {"a file too small for a header and the smallest ring",
       [](MappedSegment&, const fs::path& p) { truncate_file(p, shm::kRingOffset); }},
      {"an empty file", [](MappedSegment&, const fs::path& p) { truncate_file(p, 0); }},
  };
  for (const auto& row : table) {
    const std::string rule = row.rule;
    INFO(rule);
    ScratchName scratch("aside");
    struct stat before {};
    {
      Origin origin;
      std::string note;
      auto seg = create(scratch.name(), 64 << 10, origin, note);
      REQUIRE(origin == Origin::created);
      seg.segment().producer.head.store(4096);
      seg.segment().consumer.tail.store(4096);
      row.damage(seg, scratch.path());
      REQUIRE(::stat(scratch.path().c_str(), &before) == 0);
    }
    Origin origin = Origin::adopted;
    std::string note;
    auto seg = create(scratch.name(), 64 << 10, origin, note);
    CHECK(origin == Origin::created);
    CHECK_FALSE(note.empty());
    CHECK(seg.segment().header.magic.load() == shm::kMagic);
    CHECK(seg.segment().producer.head.load() == 0);
    CHECK(seg.ring_bytes() == 64u << 10);
    // Moved aside, never deleted: the very file stays, next to the fresh segment in the
    // directory of Boost's objects, and the note says where.
    const auto aside = scratch.moved_aside();
    REQUIRE(aside.size() == 1);
    CHECK(aside.front().parent_path() == shm_dir());
    CHECK(aside.front().filename().string().rfind(scratch.name() + ".bad-", 0) == 0);
    CHECK(note.find("moved it to " + aside.front().string()) != std::string::npos);
    struct stat moved {};
    REQUIRE(::stat(aside.front().c_str(), &moved) == 0);
    CHECK(identity(moved) == identity(before));
    CHECK((moved.st_mode & 07777) == 0600);
    struct stat st {};
    REQUIRE(::stat(scratch.path().c_str(), &st) == 0);
    CHECK(identity(st) != identity(before));
  }
}

TEST_CASE("open_existing refuses a missing or unusable segment with std::system_error") {
  ScratchName scratch("open");
  try {
    (void)MappedSegment::open_existing(scratch.name());
    FAIL("open_existing mapped a segment that does not exist");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::no_such_file_or_directory);
    CHECK(std::string(e.what()).find(scratch.name()) != std::string::npos);
  }

  {
    Origin origin;
    std::string note;
    auto seg = create(scratch.name(), 64 << 10, origin, note);
    seg.segment().header.magic.store(0);
  }
  CHECK_THROWS_AS((void)MappedSegment::open_existing(scratch.name()), std::system_error);
  // The worker does not move anything aside: that is the client's job.
  CHECK(scratch.moved_aside().empty());
}

TEST_CASE("unlink removes the name but not a live mapping") {
  ScratchName scratch("unlink");
  Origin origin;
  std::string note;
  auto seg = create(scratch.name(), 64 << 10, origin, note);
  REQUIRE(fs::exists(scratch.path()));
  MappedSegment::unlink(scratch.name());
  CHECK_FALSE(fs::exists(scratch.path()));
  seg.segment().producer.head.store(64);  // still mapped
  CHECK(seg.segment().producer.head.load() == 64);
  CHECK_THROWS_AS((void)MappedSegment::open_existing(scratch.name()), std::system_error);
  MappedSegment::unlink(scratch.name());  // unlinking twice is harmless
  // The next create_or_adopt starts afresh.
  auto again = create(scratch.name(), 64 << 10, origin, note);
  CHECK(origin == Origin::created);
  CHECK(again.segment().producer.head.load() == 0);
}

TEST_CASE("a moved segment keeps its mapping and the moved-from one is unmapped") {
  ScratchName scratch("move");
  Origin origin;
  std::string note;
  auto a = create(scratch.name(), 64 << 10, origin, note);
  shm::Segment* where = &a.segment();
  MappedSegment b = std::move(a);
  CHECK(&b.segment() == where);
  CHECK(b.ring_bytes() == 64u << 10);
  b.segment().producer.head.store(8);
  auto c = MappedSegment::open_existing(scratch.name());
  CHECK(c.segment().producer.head.load() == 8);
  c = std::move(b);
  CHECK(&c.segment() == where);
}

TEST_CASE("segment_file names the file behind the object Boost opens by that name") {
  REQUIRE_FALSE(shm_dir().empty());
  ScratchName scratch("file");
  CHECK(segment_file(scratch.name()).empty());  // no such object
  Origin origin;
  std::string note;
  auto seg = create(scratch.name(), 64 << 10, origin, note);
  const fs::path file = segment_file(scratch.name());
  CHECK(file == shm_dir() / scratch.name());
  const bip::shared_memory_object obj(bip::open_only, scratch.name().c_str(), bip::read_only);
  struct stat by_boost {};
  REQUIRE(::fstat(obj.get_mapping_handle().handle, &by_boost) == 0);
  struct stat by_name {};
  REQUIRE(::stat(file.c_str(), &by_name) == 0);
  CHECK(identity(by_boost) == identity(by_name));
}

TEST_CASE("a version-1 segment is adopted with its records and marked with the current version") {
  static_assert(shm::kOldestLayoutVersion == 1 && shm::kLayoutVersion == 2);
  ScratchName scratch("v1");
  std::uint64_t head = 0;
  {
    Origin origin;
    std::string note;
    auto seg = create(scratch.name(), 64 << 10, origin, note);
    RingProducer producer(seg.segment().producer, seg.segment().consumer, seg.ring(), seg.ring_bytes());
    REQUIRE(producer.try_push(message(1, "plant/1", "left by a version-1 client")));
    head = producer.head();
    seg.segment().header.layout_version = 1;
  }
  // The worker reads it as it is.
  CHECK(MappedSegment::open_existing(scratch.name()).segment().header.layout_version == 1);
  Origin origin = Origin::created;
  std::string note;
  auto seg = create(scratch.name(), 64 << 10, origin, note);
  CHECK(origin == Origin::adopted);
  CHECK(note.empty());
  CHECK(seg.segment().header.layout_version == shm::kLayoutVersion);
  CHECK(seg.segment().producer.head.load() == head);
  RingConsumer consumer(seg.segment().producer, seg.segment().consumer, seg.ring(), seg.ring_bytes());
  RingConsumer::Item item;
  REQUIRE(consumer.read_at(consumer.tail(), item) == RingConsumer::Status::item);
  CHECK(item.message.payload == "left by a version-1 client");
  CHECK(scratch.moved_aside().empty());
}

TEST_CASE("a segment replacing one moved aside is 0600 under umask 0 too") {
  ScratchName scratch("umask-aside");
  // Junk another program of ours left under the name, readable by everybody.
  {
    bip::shared_memory_object obj(bip::create_only, scratch.name().c_str(), bip::read_write,
                                  bip::permissions(0644));
    obj.truncate(shm::kRingOffset + (64 << 10));
  }
  const mode_t old_mask = ::umask(0);
  Origin origin = Origin::adopted;
  std::string note;
  auto seg = create(scratch.name(), 64 << 10, origin, note);
  ::umask(old_mask);
  CHECK(origin == Origin::created);
  CHECK(note.find("wrong magic") != std::string::npos);
  REQUIRE(scratch.moved_aside().size() == 1);
  struct stat st {};
  REQUIRE(::stat(scratch.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

namespace {

// Runs fn in a fork() child; returns its exit status (fn's result), or -1 if it did not exit.
template <typename Fn>
int in_child(Fn fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// Whether [p, p + bytes) is mapped in this process (msync fails with ENOMEM where it is not).
bool mapped(void* p, std::size_t bytes) { return ::msync(p, bytes, MS_ASYNC) == 0; }

}  // namespace

TEST_CASE("a fork() child gets no mapping of a segment, and forget() leaves the range alone") {
  ScratchName scratch("fork");
  Origin origin;
  std::string note;
  auto created = create(scratch.name(), 64 << 10, origin, note);
  auto opened = MappedSegment::open_existing(scratch.name());
  const std::size_t bytes = shm::kRingOffset + created.ring_bytes();
  REQUIRE(mapped(&created.segment(), bytes));
  REQUIRE(mapped(&opened.segment(), bytes));
  CHECK(in_child([&] { return mapped(&created.segment(), bytes) ? 1 : 0; }) == 0);
  CHECK(in_child([&] { return mapped(&opened.segment(), bytes) ? 1 : 0; }) == 0);
  // In the child something else comes to live where the segment was; forget() and the
  // destructor must not unmap it.
  CHECK(in_child([&] {
          void* where = &created.segment();
          void* p = ::mmap(where, bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
          if (p != where) return 2;
          created.forget();
          { MappedSegment gone = std::move(created); }
          return mapped(where, bytes) ? 0 : 1;
        }) == 0);
  CHECK(created.segment().producer.head.load() == 0);  // the parent's mapping is untouched
}

TEST_CASE("a segment of another user is refused, neither used nor moved aside") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: making a segment another user's needs root");
    return;
  }
  constexpr uid_t kNobody = 65534;
  ScratchName scratch("foreign");
  {
    Origin origin;
    std::string note;
    (void)create(scratch.name(), 64 << 10, origin, note);
  }
  // Another user cannot open ours: its mode keeps it out before any check of ours.
  CHECK(in_child([&] {
          if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
            return 2;
          try {
            Origin origin;
            std::string note;
            (void)create(scratch.name(), 64 << 10, origin, note);
            return 3;
          } catch (const std::system_error& e) {
            return e.code() == std::errc::permission_denied ? 0 : 4;
          }
        }) == 0);
  // One that belongs to another user (here: open to us, as root) is refused by its owner.
  REQUIRE(::chown(scratch.path().c_str(), kNobody, kNobody) == 0);
  for (const bool worker : {false, true}) {
    CAPTURE(worker);
    try {
      Origin origin;
      std::string note;
      if (worker) (void)MappedSegment::open_existing(scratch.name());
      else (void)create(scratch.name(), 64 << 10, origin, note);
      FAIL("a segment of uid 65534 was used");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::permission_denied);
      CHECK_MESSAGE(std::string(e.what()).find("owned by uid 65534") != std::string::npos,
                    e.what());
      CHECK_MESSAGE(std::string(e.what()).find(scratch.path().string()) != std::string::npos,
                    e.what());
    }
  }
  CHECK(scratch.moved_aside().empty());
  struct stat st {};
  REQUIRE(::stat(scratch.path().c_str(), &st) == 0);
  CHECK(st.st_uid == kNobody);
}
