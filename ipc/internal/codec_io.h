// Copyright 2026 The shoal Authors.
//
// codec_io.h: the bounded byte writer and reader under shoal's codec.
//
// Both are plain cursors over a caller's span; neither allocates. Every read
// and write checks the remaining length first, so a wrong size (a CodecTraits
// whose Size() lies, a destination that is too small, truncated or garbage
// input) becomes an exception, never an access out of bounds.
//
// Included by ipc/codec.h; use that.
#ifndef SHOAL_IPC_INTERNAL_CODEC_IO_H_
#define SHOAL_IPC_INTERNAL_CODEC_IO_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace shoal {

namespace internal {
// Out of line and cold: the error paths (codec.cc).
[[noreturn]] void ThrowEncodeOverflow(size_t need, size_t offset, size_t size);
[[noreturn]] void ThrowDecodeError(std::string_view type, std::string_view why,
                                   size_t offset, size_t size);
std::string DecodeTruncatedMessage(size_t need, size_t left);
std::string DecodeLengthMessage(uint64_t count, size_t min_bytes, size_t left);

// Decoding nests at most this deep (guards user CodecTraits and cereal types
// that recurse by data, e.g. trees; the built-in types only recurse as deep
// as their static type).
inline constexpr int kMaxDecodeDepth = 256;
// Containers of elements that may encode to zero bytes (std::monostate, an
// empty tuple, a cereal type that writes nothing) cannot be bounded by the
// input's length, so their count is capped instead. Encoding refuses more.
inline constexpr uint64_t kMaxZeroSizeElements = uint64_t{1} << 24;
}  // namespace internal

// Writes encoded bytes into a caller's span. Used by CodecTraits::Encode.
class CodecWriter {
 public:
  explicit CodecWriter(std::span<std::byte> dst)
      : begin_(dst.data()), pos_(dst.data()), end_(dst.data() + dst.size()) {}

  // Appends n bytes. Throws SerializationError if they do not fit.
  void Write(const void* data, size_t n) {
    if (n > static_cast<size_t>(end_ - pos_)) {
      internal::ThrowEncodeOverflow(n, written(), size());
    }
    if (n != 0) std::memcpy(pos_, data, n);
    pos_ += n;
  }
  // Appends the object representation of a trivially copyable value.
  template <class T>
  void WriteRaw(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    Write(&v, sizeof(T));
  }
  // Appends a container length (uint64).
  void WriteLength(uint64_t n) { WriteRaw(n); }

  // Appends `v` with its CodecTraits (defined in codec.h).
  template <class T>
  void Put(const T& v);

  size_t written() const { return static_cast<size_t>(pos_ - begin_); }
  size_t remaining() const { return static_cast<size_t>(end_ - pos_); }
  size_t size() const { return static_cast<size_t>(end_ - begin_); }

 private:
  std::byte* begin_;
  std::byte* pos_;
  std::byte* end_;
};

// Reads encoded bytes from a caller's span. Used by CodecTraits::Decode.
class CodecReader {
 public:
  explicit CodecReader(std::span<const std::byte> src,
                       std::string_view type = {})
      : begin_(src.data()),
        pos_(src.data()),
        end_(src.data() + src.size()),
        type_(type) {}

  // Consumes n bytes and returns where they start. Throws CodecError when
  // fewer remain.
  const std::byte* Read(size_t n) {
    if (n > remaining()) Fail(internal::DecodeTruncatedMessage(n, remaining()));
    const std::byte* p = pos_;
    pos_ += n;
    return p;
  }
  void ReadInto(void* dst, size_t n) {
    const std::byte* p = Read(n);
    if (n != 0) std::memcpy(dst, p, n);
  }
  // Reads a trivially copyable value (no validation of its bits).
  template <class T>
  T ReadRaw() {
    static_assert(std::is_trivially_copyable_v<T>);
    const std::byte* p = Read(sizeof(T));
    if constexpr (std::is_default_constructible_v<T>) {
      T v;
      std::memcpy(static_cast<void*>(&v), p, sizeof(T));
      return v;
    } else {
      alignas(T) unsigned char buf[sizeof(T)];
      std::memcpy(buf, p, sizeof(T));
      return *std::launder(reinterpret_cast<T*>(buf));
    }
  }
  // Reads a container length and checks it BEFORE anything is allocated:
  // `count` elements of at least `min_element_bytes` each must fit in what
  // remains (elements that may be empty: count <= kMaxZeroSizeElements).
  uint64_t ReadLength(size_t min_element_bytes) {
    uint64_t n = ReadRaw<uint64_t>();
    if (min_element_bytes == 0) {
      if (n > internal::kMaxZeroSizeElements) {
        Fail(internal::DecodeLengthMessage(n, 0, remaining()));
      }
    } else if (n > remaining() / min_element_bytes) {
      Fail(internal::DecodeLengthMessage(n, min_element_bytes, remaining()));
    }
    return n;
  }

  // Decodes a T with its CodecTraits (defined in codec.h).
  template <class T>
  T Get();

  size_t remaining() const { return static_cast<size_t>(end_ - pos_); }
  size_t offset() const { return static_cast<size_t>(pos_ - begin_); }
  size_t size() const { return static_cast<size_t>(end_ - begin_); }
  const std::byte* position() const { return pos_; }

  // Throws CodecError: "cannot decode <type>: <why> (at byte offset N of M)".
  [[noreturn]] void Fail(std::string_view why) const {
    internal::ThrowDecodeError(type_, why, offset(), size());
  }

  // RAII nesting counter; throws CodecError beyond kMaxDecodeDepth.
  class Nest {
   public:
    explicit Nest(CodecReader& r) : r_(r) {
      if (++r_.depth_ > internal::kMaxDecodeDepth) {
        --r_.depth_;
        r_.Fail("nesting is deeper than the codec allows");
      }
    }
    ~Nest() { --r_.depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    CodecReader& r_;
  };

 private:
  const std::byte* begin_;
  const std::byte* pos_;
  const std::byte* end_;
  std::string_view type_;
  int depth_ = 0;
};

}  // namespace shoal

#endif  // SHOAL_IPC_INTERNAL_CODEC_IO_H_
