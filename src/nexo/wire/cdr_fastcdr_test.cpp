// nexo's CDR against eProsima Fast-CDR, byte for byte, in both byte orders: the same
// values serialized by Fast-CDR (field by field, as its generated code does) and by nexo
// from the one description must give identical bytes, and each must read the other's.
#include "nexo/wire/cdr.hpp"

#include <fastcdr/Cdr.h>
#include <fastcdr/FastBuffer.h>
#include <gtest/gtest.h>

#include "nexo/wire/examples.hpp"
#include "nexo/wire/testdata/fastcdr_examples.hpp"

namespace nexo::wire {
namespace {

namespace fc = eprosima::fastcdr;
using cdr::Endian;
using examples::Everything;
using examples::Large;
using examples::Person;

using testdata::get;
using testdata::put;

template <class T>
std::vector<std::uint8_t> fastcdr_bytes(const T& v, Endian order, bool encapsulated) {
  std::vector<char> storage(1 << 20);
  fc::FastBuffer fb(storage.data(), storage.size());
  fc::Cdr c(fb, order == Endian::little ? fc::Cdr::LITTLE_ENDIANNESS : fc::Cdr::BIG_ENDIANNESS,
            encapsulated ? fc::Cdr::DDS_CDR : fc::Cdr::CORBA_CDR);
  if (encapsulated) c.serialize_encapsulation();
  put(c, v);
  return {storage.data(), storage.data() + c.getSerializedDataLength()};
}

template <class T>
std::vector<std::uint8_t> nexo_bytes(const T& v, Endian order, bool encapsulated) {
  Buffer b;
  if (encapsulated) {
    cdr::encode_encapsulated(v, b, order);
  } else {
    cdr::encode(v, b, order);
  }
  auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size()};
}

template <class T>
void expect_identical(const T& v) {
  for (Endian order : {Endian::little, Endian::big}) {
    for (bool encapsulated : {false, true}) {
      SCOPED_TRACE(std::string(order == Endian::little ? "little" : "big") +
                   (encapsulated ? "-endian encapsulation" : "-endian plain"));
      EXPECT_EQ(nexo_bytes(v, order, encapsulated), fastcdr_bytes(v, order, encapsulated));
    }
  }
}

TEST(CdrFastCdr, PersonIsByteForByteIdentical) {
  expect_identical(examples::make_person());
}
TEST(CdrFastCdr, LargeIsByteForByteIdentical) {
  expect_identical(examples::make_large());
}
TEST(CdrFastCdr, EverythingIsByteForByteIdentical) {
  expect_identical(examples::make_everything());
  expect_identical(Everything{});  // empty strings, sequences and maps
}

TEST(CdrFastCdr, FastCdrReadsNexoAndNexoReadsFastCdr) {
  Large large = examples::make_large();
  for (Endian order : {Endian::little, Endian::big}) {
    auto bytes = nexo_bytes(large, order, true);
    fc::FastBuffer fb(reinterpret_cast<char*>(bytes.data()), bytes.size());
    fc::Cdr c(fb, fc::Cdr::DEFAULT_ENDIAN, fc::Cdr::DDS_CDR);
    c.read_encapsulation();
    Large by_fastcdr;
    get(c, by_fastcdr);
    EXPECT_EQ(by_fastcdr, large);

    auto theirs = fastcdr_bytes(large, order, true);
    auto by_nexo = cdr::decode_encapsulated<Large>(
        {reinterpret_cast<const std::byte*>(theirs.data()), theirs.size()});
    ASSERT_TRUE(by_nexo) << by_nexo.error().to_string();
    EXPECT_EQ(*by_nexo, large);
  }
  Person p = examples::make_person();
  auto bytes = nexo_bytes(p, Endian::big, false);
  fc::FastBuffer fb(reinterpret_cast<char*>(bytes.data()), bytes.size());
  fc::Cdr c(fb, fc::Cdr::BIG_ENDIANNESS, fc::Cdr::CORBA_CDR);
  Person back;
  get(c, back);
  EXPECT_EQ(back, p);
}

}  // namespace
}  // namespace nexo::wire
