// The output side of every encoder: a growable byte buffer, and its annotating twin.
//
// Encoders are templates over their output, so that one encoder serves two uses:
//   Buffer            the fast path: append bytes; notes cost nothing (inlined away);
//   AnnotatedBuffer   the same bytes, plus a note for every run of bytes saying what it
//                     is (a tag, a length, padding, a handle, a field's value), which
//                     `nexo marshal` prints as an annotated hex dump.
//
// A Buffer is reused across messages: clear() keeps its capacity, so encoding into a
// warm buffer allocates nothing (a test counts this).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nexo::wire {

// What a run of encoded bytes is, for the annotated hex dump.
enum class Part : std::uint8_t {
  header,     // a stream or encapsulation header (magic, version, byte-order flag)
  tag,        // a field key, a type code, an element or key name
  length,     // a length or an element count
  padding,    // alignment padding
  value,      // the value of a field (a number, the bytes of a string)
  handle,     // a reference to an object written before (Java)
  structure,  // punctuation and markup: braces, commas, angle brackets, end markers
  type_info,  // a class descriptor, a type name
};

std::string_view to_string(Part part) noexcept;

// A growable, reusable byte buffer. Not thread-safe; movable, not copyable.
class Buffer {
 public:
  static constexpr bool annotating = false;

  Buffer() = default;
  explicit Buffer(std::size_t capacity) { reserve(capacity); }
  Buffer(Buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(data_); }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }

  // Forgets the contents, keeps the capacity.
  void clear() noexcept { size_ = 0; }
  void reserve(std::size_t capacity) {
    if (capacity > capacity_) reallocate(capacity);
  }
  // Cuts the buffer back to `size` bytes (size <= this->size()).
  void truncate(std::size_t size) noexcept { size_ = size; }

  // Appends n bytes and returns where they go; the caller fills them.
  std::byte* extend(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    std::byte* p = data_ + size_;
    size_ += n;
    return p;
  }
  // Makes room for n more bytes without appending; returns where they would go.
  // Use with commit(): write up to n bytes at the pointer, then commit how many.
  std::byte* room(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    return data_ + size_;
  }
  void commit(std::size_t n) noexcept { size_ += n; }

  void append(const void* p, std::size_t n) {
    if (n != 0) std::memcpy(extend(n), p, n);
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void push_back(std::byte b) { *extend(1) = b; }
  void push_back(char c) { *extend(1) = static_cast<std::byte>(c); }

  // Notes that the bytes [begin, size()) are `part`, labelled `label`. Free here.
  void note(std::size_t /*begin*/, Part /*part*/, std::string_view /*label*/ = {}) noexcept {}
  // Notes that the bytes [begin, end) are `part`. Free here.
  void note_range(std::size_t /*begin*/, std::size_t /*end*/, Part /*part*/,
                  std::string_view /*label*/ = {}) noexcept {}
  // Opens/closes a nesting level in the notes (a struct, a sequence). Free here.
  void enter(std::string_view /*label*/) noexcept {}
  void leave() noexcept {}

  // The contents as an owned byte vector (copies).
  std::vector<std::byte> to_vector() const { return {data_, data_ + size_}; }

 private:
  void grow(std::size_t n) {
    std::size_t want = size_ + n;
    std::size_t next = capacity_ < 64 ? 64 : capacity_ * 2;
    reallocate(next < want ? want : next);
  }
  void reallocate(std::size_t capacity) {
    void* p = std::realloc(data_, capacity);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<std::byte*>(p);
    capacity_ = capacity;
  }

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// One note of an AnnotatedBuffer: bytes [begin, end) are `part`; `label` says of what
// ("name", "year", "string length"); `depth` is the nesting level.
struct Note {
  std::size_t begin;
  std::size_t end;
  Part part;
  std::string label;
  int depth;
};

// A Buffer that keeps every note (for `nexo marshal`; slow by design).
class AnnotatedBuffer : public Buffer {
 public:
  static constexpr bool annotating = true;

  void note(std::size_t begin, Part part, std::string_view label = {}) {
    note_range(begin, size(), part, label);
  }
  void note_range(std::size_t begin, std::size_t end, Part part, std::string_view label = {}) {
    if (begin < end) notes_.push_back(Note{begin, end, part, std::string(label), depth_});
  }
  void enter(std::string_view label) {
    path_.emplace_back(label);
    ++depth_;
  }
  void leave() {
    if (!path_.empty()) path_.pop_back();
    --depth_;
  }
  const std::vector<Note>& notes() const noexcept { return notes_; }

 private:
  std::vector<Note> notes_;
  std::vector<std::string> path_;
  int depth_ = 0;
};

// Prints bytes as a hex dump, one note per line, for example
//   0000  00 00 00 06              length  name: string length 6
//   0004  53 6d 69 74 68 00        value   name "Smith\0"
//   000a  00 00                    padding
// Bytes not covered by a note are printed as "value". Printable text is shown.
std::string annotated_dump(std::span<const std::byte> bytes, const std::vector<Note>& notes);

}  // namespace nexo::wire
