// Copyright 2026 The shoal Authors.
//
// auth_handshake.h: multiprocessing.connection's authkey handshake as a
// state machine that does no I/O, so that a Listener can run many
// handshakes at once on non-blocking sockets, a Client can run one with a
// deadline, and a fuzzer can feed it any bytes.
//
// The protocol (Python's deliver_challenge / answer_challenge; every
// message in Python's framing: a 4-byte big-endian signed length, or -1
// and an 8-byte big-endian length; a handshake message is at most 256
// bytes):
//
//   deliverer                              answerer
//   "#CHALLENGE#" + M          ------>
//                              <------     response R
//   "#WELCOME#" or "#FAILURE#" ------>
//
// The deliverer's M is "{sha256}" followed by 40 random bytes (Python >=
// 3.12); a Python 3.11 answerer, which knows only HMAC-MD5, answers with
// the raw 16-byte HMAC-MD5 of all of M, and that is accepted as Python
// accepts it. R is checked as Python's _verify_challenge does: a 16- or
// 20-byte R is a raw HMAC-MD5 of M; otherwise R is "{name}" + HMAC-name of
// M, name one of md5, sha256, sha384, sha3_256, sha3_384. The answerer
// replies to a 20-byte M (a Python <= 3.11 deliverer) with the raw HMAC-MD5,
// and to "{name}..." with "{name}" + HMAC-name, as Python's
// _create_response. The HMAC key is the authkey; comparisons are constant
// time (CRYPTO_memcmp).
//
// The server (Listener) delivers first and then answers; the client answers
// first and then delivers: both sides prove they know the key.
//
// Driving it: write output() to the peer (calling Wrote(n)), read at most
// want() bytes and Feed() them; repeat until state() is not kRunning. It
// never asks for a byte beyond the current message, so the stream after
// the handshake is untouched. Cost: two HMACs and six short messages.
#ifndef SHOAL_IPC_INTERNAL_AUTH_HANDSHAKE_H_
#define SHOAL_IPC_INTERNAL_AUTH_HANDSHAKE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shoal::internal {

// Python's framing of one message.
void AppendPythonFrame(std::string& out, std::string_view payload);

// HMAC-`digest` of `message` under `key` (OpenSSL). Empty when `digest` is
// not one of Python's allowed names.
std::string Hmac(std::string_view digest, std::string_view key,
                 std::string_view message);

class AuthHandshake {
 public:
  enum class Role { kServer, kClient };
  enum class State { kRunning, kDone, kFailed };

  static constexpr std::size_t kChallengeRandomBytes = 40;
  static constexpr std::size_t kMaxMessage = 256;

  // `random` is the random part of our challenge (kChallengeRandomBytes
  // bytes; Random() makes it).
  AuthHandshake(Role role, std::string authkey, std::string random);
  // kChallengeRandomBytes bytes from getrandom().
  static std::string Random();

  // Bytes to send now; Wrote(n) after sending the first n of them.
  std::string_view output() const {
    return std::string_view(out_).substr(out_pos_);
  }
  void Wrote(std::size_t n);
  // How many bytes to read next (0: none until output() is written, or the
  // handshake is over). Never beyond the current message.
  std::size_t want() const;
  // Gives it `n` <= want() bytes read from the peer.
  void Feed(const char* data, std::size_t n);
  // The peer closed the stream.
  void FeedEof();

  // kDone once both directions are verified and our last message is fully
  // in output() consumers' hands (output() empty). kFailed: see error();
  // output() may still hold a "#FAILURE#" worth sending (best effort).
  State state() const;
  const std::string& error() const { return error_; }
  // The peer refused our digest (it has another key), as opposed to us
  // refusing the peer's.
  bool rejected_by_peer() const { return rejected_by_peer_; }

 private:
  enum class Step {
    kSendChallenge,   // deliver: queue our challenge
    kReadResponse,    // deliver: the peer's digest
    kReadChallenge,   // answer: the peer's challenge
    kReadWelcome,     // answer: the verdict on our digest
    kFinished,
  };
  void Advance();
  void OnMessage(std::string msg);
  void Fail(std::string why);
  // After our deliver half or answer half completed.
  void HalfDone();

  Role role_;
  std::string key_;
  std::string random_;
  std::string our_challenge_;  // M we sent (without "#CHALLENGE#")
  Step step_;
  bool delivered_ = false;
  bool answered_ = false;
  bool failed_ = false;
  bool rejected_by_peer_ = false;
  std::string error_;
  std::string out_;
  std::size_t out_pos_ = 0;
  // Input framing: header bytes, then payload.
  unsigned char header_[12];
  std::size_t header_have_ = 0;
  std::size_t header_need_ = 4;
  bool in_payload_ = false;
  std::size_t payload_need_ = 0;
  std::string payload_;
};

}  // namespace shoal::internal

#endif  // SHOAL_IPC_INTERNAL_AUTH_HANDSHAKE_H_
