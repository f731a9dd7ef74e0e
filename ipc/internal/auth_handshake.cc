// Copyright 2026 The shoal Authors.
#include "shoal/ipc/internal/auth_handshake.h"

#include <endian.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <cstring>
#include <utility>

#include "shoal/base/errors.h"

namespace shoal::internal {
namespace {

constexpr std::string_view kChallenge = "#CHALLENGE#";
constexpr std::string_view kWelcome = "#WELCOME#";
constexpr std::string_view kFailure = "#FAILURE#";
// The digest our challenges ask for (Python >= 3.12's default).
constexpr std::string_view kOurDigest = "sha256";
// Python's _MD5ONLY_MESSAGE_LENGTH and _MD5_DIGEST_LEN: a message of one of
// these lengths is the legacy (HMAC-MD5, no "{name}" prefix) protocol.
constexpr std::size_t kLegacyChallengeLength = 20;
constexpr std::size_t kMd5Length = 16;
// Python's _MAX_DIGEST_LEN: the longest allowed digest name.
constexpr std::size_t kMaxDigestName = 8;

const EVP_MD* DigestByName(std::string_view name) {
  if (name == "md5") return EVP_md5();
  if (name == "sha256") return EVP_sha256();
  if (name == "sha384") return EVP_sha384();
  if (name == "sha3_256") return EVP_sha3_256();
  if (name == "sha3_384") return EVP_sha3_384();
  return nullptr;
}

// Python's _get_digest_name_and_payload: "" (legacy MD5) for a 16- or
// 20-byte message; the name of a "{name}payload" message with an allowed
// name (then *payload is set); nullopt-like false otherwise.
bool SplitDigest(std::string_view message, std::string* name,
                 std::string_view* payload) {
  if (message.size() == kLegacyChallengeLength ||
      message.size() == kMd5Length) {
    name->clear();
    *payload = message;
    return true;
  }
  if (message.empty() || message[0] != '{') return false;
  const std::size_t curly =
      message.substr(0, kMaxDigestName + 2).find('}', 1);
  if (curly == std::string_view::npos) return false;
  std::string_view digest = message.substr(1, curly - 1);
  if (DigestByName(digest) == nullptr) return false;
  *name = std::string(digest);
  *payload = message.substr(curly + 1);
  return true;
}

// For messages: printable ASCII kept, the rest as \xNN, at most 48 bytes.
std::string Printable(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < 48; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (bytes.size() > 48) out += "...";
  return out;
}

}  // namespace

void AppendPythonFrame(std::string& out, std::string_view payload) {
  // Handshake messages are short; the -1 + 8-byte form never applies.
  uint32_t be = htobe32(static_cast<uint32_t>(payload.size()));
  out.append(reinterpret_cast<const char*>(&be), 4);
  out.append(payload);
}

std::string Hmac(std::string_view digest, std::string_view key,
                 std::string_view message) {
  const EVP_MD* md = DigestByName(digest);
  if (md == nullptr) return {};
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? static_cast<const void*>(&kEmpty)
                              : static_cast<const void*>(key.data());
  if (HMAC(md, k, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), out, &len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string AuthHandshake::Random() {
  std::string r(kChallengeRandomBytes, '\0');
  std::size_t got = 0;
  while (got < r.size()) {
    ssize_t n = getrandom(r.data() + got, r.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowSystemError("getrandom", errno);
    }
    got += static_cast<std::size_t>(n);
  }
  return r;
}

AuthHandshake::AuthHandshake(Role role, std::string authkey,
                             std::string random)
    : role_(role),
      key_(std::move(authkey)),
      random_(std::move(random)),
      step_(role == Role::kServer ? Step::kSendChallenge
                                  : Step::kReadChallenge) {
  Advance();
}

void AuthHandshake::Advance() {
  if (step_ != Step::kSendChallenge) return;
  our_challenge_ = "{";
  our_challenge_ += kOurDigest;
  our_challenge_ += "}";
  our_challenge_ += random_;
  std::string msg(kChallenge);
  msg += our_challenge_;
  AppendPythonFrame(out_, msg);
  step_ = Step::kReadResponse;
}

void AuthHandshake::Wrote(std::size_t n) {
  out_pos_ += n;
  if (out_pos_ > out_.size()) out_pos_ = out_.size();
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

std::size_t AuthHandshake::want() const {
  if (failed_ || step_ == Step::kFinished || !output().empty()) return 0;
  if (!in_payload_) return header_need_ - header_have_;
  return payload_need_ - payload_.size();
}

AuthHandshake::State AuthHandshake::state() const {
  if (failed_) return State::kFailed;
  if (step_ == Step::kFinished && output().empty()) return State::kDone;
  return State::kRunning;
}

void AuthHandshake::Fail(std::string why) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(why);
}

void AuthHandshake::FeedEof() {
  const char* when = "";
  switch (step_) {
    case Step::kReadResponse:
      when = " before answering our challenge";
      break;
    case Step::kReadChallenge:
      when = " before sending its challenge";
      break;
    case Step::kReadWelcome:
      when = " before accepting our digest";
      break;
    default:
      break;
  }
  Fail(std::string("the peer closed the connection during the handshake") +
       when);
}

void AuthHandshake::Feed(const char* data, std::size_t n) {
  while (n > 0 && !failed_ && step_ != Step::kFinished) {
    if (!in_payload_) {
      std::size_t take = header_need_ - header_have_;
      if (take > n) take = n;
      std::memcpy(header_ + header_have_, data, take);
      header_have_ += take;
      data += take;
      n -= take;
      if (header_have_ < header_need_) return;
      uint64_t len;
      if (header_need_ == 4) {
        uint32_t be;
        std::memcpy(&be, header_, 4);
        const auto small = static_cast<int32_t>(be32toh(be));
        if (small == -1) {
          header_need_ = 12;
          continue;
        }
        if (small < 0) {
          Fail("garbage instead of a handshake message: length header " +
               std::to_string(small));
          return;
        }
        len = static_cast<uint64_t>(small);
      } else {
        uint64_t be;
        std::memcpy(&be, header_ + 4, 8);
        len = be64toh(be);
      }
      if (len > kMaxMessage) {
        Fail("garbage instead of a handshake message: a message of " +
             std::to_string(len) + " bytes (at most " +
             std::to_string(kMaxMessage) + ")");
        return;
      }
      header_have_ = 0;
      header_need_ = 4;
      payload_.clear();
      payload_need_ = static_cast<std::size_t>(len);
      in_payload_ = true;
    }
    std::size_t take = payload_need_ - payload_.size();
    if (take > n) take = n;
    payload_.append(data, take);
    data += take;
    n -= take;
    if (payload_.size() == payload_need_) {
      in_payload_ = false;
      OnMessage(std::exchange(payload_, {}));
      // Strictly alternating: anything more before our reply is written
      // is not ours to read (want() is 0 then).
      if (!output().empty()) return;
    }
  }
}

void AuthHandshake::HalfDone() {
  if (delivered_ && answered_) {
    step_ = Step::kFinished;
    return;
  }
  if (role_ == Role::kServer) {
    step_ = Step::kReadChallenge;  // delivered; now answer theirs
  } else {
    step_ = Step::kSendChallenge;  // answered; now deliver ours
    Advance();
  }
}

void AuthHandshake::OnMessage(std::string msg) {
  switch (step_) {
    case Step::kReadResponse: {
      std::string name;
      std::string_view mac;
      std::string expected;
      if (SplitDigest(msg, &name, &mac)) {
        expected = Hmac(name.empty() ? "md5" : name, key_, our_challenge_);
      }
      const bool ok = !expected.empty() && expected.size() == mac.size() &&
                      CRYPTO_memcmp(expected.data(), mac.data(),
                                    mac.size()) == 0;
      if (!ok) {
        AppendPythonFrame(out_, kFailure);
        Fail(expected.empty()
                 ? "digest received was malformed ('" + Printable(msg) +
                       "': not an HMAC in Python's format)"
                 : "digest received was wrong (the peer does not have this "
                   "authkey)");
        return;
      }
      AppendPythonFrame(out_, kWelcome);
      delivered_ = true;
      HalfDone();
      return;
    }
    case Step::kReadChallenge: {
      std::string_view m(msg);
      if (m.substr(0, kChallenge.size()) != kChallenge) {
        Fail("protocol error: expected a challenge, got '" + Printable(m) +
             "'");
        return;
      }
      m.remove_prefix(kChallenge.size());
      if (m.size() < kLegacyChallengeLength) {
        Fail("challenge too short: " + std::to_string(m.size()) + " bytes");
        return;
      }
      std::string name;
      std::string_view payload;
      if (!SplitDigest(m, &name, &payload)) {
        Fail("unsupported challenge: no {digest} prefix of md5, sha256, "
             "sha384, sha3_256 or sha3_384 ('" +
             Printable(m) + "')");
        return;
      }
      std::string response;
      if (name.empty()) {
        response = Hmac("md5", key_, m);
      } else {
        response = "{" + name + "}" + Hmac(name, key_, m);
      }
      AppendPythonFrame(out_, response);
      step_ = Step::kReadWelcome;
      return;
    }
    case Step::kReadWelcome:
      if (msg == kWelcome) {
        answered_ = true;
        HalfDone();
        return;
      }
      if (msg == kFailure) {
        rejected_by_peer_ = true;
        Fail("digest sent was rejected (the peer has another authkey)");
        return;
      }
      Fail("protocol error: expected #WELCOME# or #FAILURE#, got '" +
           Printable(msg) + "'");
      return;
    default:
      return;
  }
}

}  // namespace shoal::internal
