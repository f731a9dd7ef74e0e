// Copyright 2026 The shoal Authors.
//
// dtypes.h: the element types a Python Channel, Value or Array may hold,
// as one-character codes (numpy's dtype.char, which for these types is also
// the typecode of Python's array/multiprocessing modules), and the C++ type
// behind each. The C++ type decides the region's layout identity, so a
// Python Channel('float64') and a C++ Channel<double> are the same thing.
//
//   code  C++ type              numpy      code  C++ type              numpy
//   '?'   bool                  bool       'l'   long (int64_t)        int64
//   'b'   int8_t                int8       'L'   unsigned long         uint64
//   'B'   uint8_t               uint8      'f'   float                 float32
//   'h'   int16_t               int16      'd'   double                float64
//   'H'   uint16_t              uint16     'F'   std::complex<float>   complex64
//   'i'   int32_t               int32      'D'   std::complex<double>  complex128
//   'I'   uint32_t              uint32
//   Value and Array only:  'c' char (numpy S1), 'u' wchar_t (numpy U1).
//   'q'/'Q' are accepted and mean 'l'/'L' (the same 64-bit C++ types).
#ifndef SHOAL_PYTHON_DTYPES_H_
#define SHOAL_PYTHON_DTYPES_H_

#include <complex>
#include <cstdint>
#include <string>
#include <type_traits>

#include "python/errors.h"

namespace shoal::python {

inline constexpr char kNumericCodes[] = "?bBhHiIlLfdFD";
inline constexpr char kValueCodes[] = "?bBhHiIlLfdFDcu";

// 'q' -> 'l', 'Q' -> 'L'; anything else unchanged.
inline char CanonicalCode(char c) {
  if (c == 'q') return 'l';
  if (c == 'Q') return 'L';
  return c;
}

// Calls f(std::type_identity<T>{}) for the C++ type of code `c` (canonical),
// or raises TypeError naming `what` and the accepted codes.
template <class F>
decltype(auto) WithType(char c, const char* what, bool allow_chars, F&& f) {
  switch (c) {
    case '?': return f(std::type_identity<bool>{});
    case 'b': return f(std::type_identity<int8_t>{});
    case 'B': return f(std::type_identity<uint8_t>{});
    case 'h': return f(std::type_identity<int16_t>{});
    case 'H': return f(std::type_identity<uint16_t>{});
    case 'i': return f(std::type_identity<int32_t>{});
    case 'I': return f(std::type_identity<uint32_t>{});
    case 'l': return f(std::type_identity<long>{});
    case 'L': return f(std::type_identity<unsigned long>{});
    case 'f': return f(std::type_identity<float>{});
    case 'd': return f(std::type_identity<double>{});
    case 'F': return f(std::type_identity<std::complex<float>>{});
    case 'D': return f(std::type_identity<std::complex<double>>{});
    default:
      break;
  }
  if (allow_chars) {
    if (c == 'c') return f(std::type_identity<char>{});
    if (c == 'u') return f(std::type_identity<wchar_t>{});
  }
  Raise(PyExc_TypeError,
        std::string(what) + ": unsupported element type '" + std::string(1, c) +
            "'; use one of " + (allow_chars ? kValueCodes : kNumericCodes) +
            " (numpy dtype.char: bool, int8..int64, uint8..uint64, float32, "
            "float64, complex64, complex128" +
            (allow_chars ? ", or 'c' char, 'u' wchar_t)" : ")"));
}

}  // namespace shoal::python

#endif  // SHOAL_PYTHON_DTYPES_H_
