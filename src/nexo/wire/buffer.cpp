#include "nexo/wire/buffer.hpp"

#include <algorithm>
#include <cstdio>

namespace nexo::wire {

std::string_view to_string(Part part) noexcept {
  switch (part) {
    case Part::header:
      return "header";
    case Part::tag:
      return "tag";
    case Part::length:
      return "length";
    case Part::padding:
      return "padding";
    case Part::value:
      return "value";
    case Part::handle:
      return "handle";
    case Part::structure:
      return "markup";
    case Part::type_info:
      return "type";
  }
  return "?";
}

namespace {

constexpr std::size_t kBytesPerLine = 8;

// "53 6d 69 74 68" for up to kBytesPerLine bytes, padded to a fixed width.
std::string hex_column(std::span<const std::byte> bytes) {
  std::string out;
  char cell[4];
  for (std::byte b : bytes) {
    std::snprintf(cell, sizeof cell, "%02x ", static_cast<unsigned>(b));
    out += cell;
  }
  out.resize(kBytesPerLine * 3, ' ');
  return out;
}

std::string text_column(std::span<const std::byte> bytes) {
  std::string out;
  for (std::byte b : bytes) {
    auto c = static_cast<unsigned char>(b);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
  }
  return out;
}

// Text worth showing beside the hex: at least half the bytes printable.
bool mostly_text(std::span<const std::byte> bytes) {
  std::size_t printable = 0;
  for (std::byte b : bytes) {
    auto c = static_cast<unsigned char>(b);
    if (c >= 0x20 && c < 0x7f) ++printable;
  }
  return printable * 2 >= bytes.size() && printable > 0;
}

void print_run(std::string& out, std::span<const std::byte> all, std::size_t begin, std::size_t end,
               Part part, std::string_view label, int depth) {
  char offset[32];
  for (std::size_t at = begin; at < end; at += kBytesPerLine) {
    std::size_t n = std::min(kBytesPerLine, end - at);
    auto chunk = all.subspan(at, n);
    std::snprintf(offset, sizeof offset, "%06zx  ", at);
    out += offset;
    out += hex_column(chunk);
    out += ' ';
    if (at == begin) {
      std::string kind(to_string(part));
      kind.resize(8, ' ');
      out += kind;
      out.append(static_cast<std::size_t>(std::max(depth, 0)) * 2, ' ');
      out += label;
      if (label.find(" = ") == std::string_view::npos &&
          mostly_text(all.subspan(begin, end - begin))) {
        out += "  |";
        out += text_column(chunk);
        out += '|';
      }
    } else if (label.find(" = ") == std::string_view::npos &&
               mostly_text(all.subspan(begin, end - begin))) {
      out += "        ";
      out.append(static_cast<std::size_t>(std::max(depth, 0)) * 2, ' ');
      out += "  |";
      out += text_column(chunk);
      out += '|';
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
}

}  // namespace

std::string annotated_dump(std::span<const std::byte> bytes, const std::vector<Note>& notes) {
  // Notes may nest (a struct's note covers its fields): print the innermost, in
  // order; a byte covered by no note is printed as an unlabelled value.
  std::vector<const Note*> leaves;
  for (const Note& n : notes)
    leaves.push_back(&n);
  std::stable_sort(leaves.begin(), leaves.end(), [](const Note* a, const Note* b) {
    if (a->begin != b->begin) return a->begin < b->begin;
    return (a->end - a->begin) < (b->end - b->begin);
  });
  std::string out;
  std::size_t at = 0;
  for (const Note* n : leaves) {
    if (n->end > bytes.size() || n->begin < at) continue;  // covered already, or stray
    if (n->begin > at) print_run(out, bytes, at, n->begin, Part::value, "", 0);
    print_run(out, bytes, n->begin, n->end, n->part, n->label, n->depth);
    at = n->end;
  }
  if (at < bytes.size()) print_run(out, bytes, at, bytes.size(), Part::value, "", 0);
  return out;
}

}  // namespace nexo::wire
