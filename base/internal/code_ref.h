// Copyright 2026 The shoal Authors.
//
// code_ref.h: naming a function (or a constant object) so that another
// process running the same binary can find it.
//
// Why: a pool worker may be a fork() of the caller (same addresses), a
// re-exec of the same executable (spawn: different addresses under ASLR),
// or one day an MPI rank on another host. A raw pointer only means something
// in one address space. A CodeRef is (module check, offset from the module's
// load bias): the module that holds the address is found in /proc/self/maps
// (its ELF headers read from memory), identified by its GNU build-id (or,
// without one, by its file name and the size of its loaded segments), and
// the offset is the same in every process that maps the same file.
//
// Why not dl_iterate_phdr: it takes the dynamic loader's lock, and a pool
// worker fork()ed while another thread of the parent held it would block
// forever on its first lookup. Nothing here takes a lock a forked child
// could inherit held (the table is published atomically, never freed; the
// rebuild mutex is re-initialized in children).
//
// Resolving validates: the module must be loaded here (same check value) and
// the address must fall inside one of its loaded segments with the right
// permissions (executable for code, readable for data), so a garbage CodeRef
// read from shared memory gives shoal::CodecError, never a jump into the
// void. Invoker descriptors (callable.h) add a magic number and a checksum
// on top, so that only a real descriptor is ever called.
//
// Cost: encoding an address is a scan of a small table of modules (a few
// ns); the table is built on first use (~100 us: reading /proc/self/maps)
// and rebuilt when an address is not found (after dlopen). Resolving is the
// same scan by check value.
#ifndef SHOAL_BASE_INTERNAL_CODE_REF_H_
#define SHOAL_BASE_INTERNAL_CODE_REF_H_

#include <cstdint>
#include <string>
#include <type_traits>

namespace shoal::internal {

// Trivially copyable: travels by memcpy through the codec.
struct CodeRef {
  uint64_t module = 0;  // check value of the module (build-id hash)
  uint64_t offset = 0;  // address - module load bias
};
static_assert(std::is_trivially_copyable_v<CodeRef>);
static_assert(sizeof(CodeRef) == 16);

enum class CodeKind { kCode, kData };

// The CodeRef of `address`. Throws shoal::SerializationError when the address
// is not inside a loaded module (a heap or stack address, for instance).
CodeRef RefOf(const void* address);

// The address `ref` names in this process, or throws shoal::CodecError when
// the module is not loaded here or the address is not inside a segment of
// `kind` (executable for kCode, readable for kData) with `size` bytes.
const void* Resolve(const CodeRef& ref, CodeKind kind, std::size_t size = 1);

// True when `address` lies in an executable segment of a loaded module.
bool IsCodeAddress(const void* address);

// All three throw shoal::SystemError (with errno, naming /proc/self/maps)
// when the module table must be (re)built and /proc/self/maps cannot be read
// (RLIMIT_NOFILE exhausted, no /proc): the lookup could not be made, which is
// not the same as "not in any module". Nothing is cached from a failed read.

// True when `a` and `b` lie in one mapping of this process (one line of
// /proc/self/maps): the distance between them is then the same in every
// process that maps that memory, so one may refer to the other by offset
// (a Condition over a user's lock). Reads /proc/self/maps (~100 us); throws
// SystemError when it cannot.
bool InSameMapping(const void* a, const void* b);

// "module <name> (build-id ...)" for messages; "unknown module" otherwise.
std::string DescribeModule(uint64_t module_check);

}  // namespace shoal::internal

#endif  // SHOAL_BASE_INTERNAL_CODE_REF_H_
