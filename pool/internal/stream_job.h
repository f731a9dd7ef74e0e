// Copyright 2026 The shoal Authors.
//
// stream_job.h: the state and protocol of a lazy map (imap, imap_unordered,
// Executor.map). IMapResult (async_result.h) is a thin handle on one.
//
//   TopUp()   reads the input and submits chunks until `max_ahead` chunks
//             are outstanding (submitted and not yet handed out) or the
//             input ends. So an endless input is never read eagerly, and
//             read-ahead is bounded however slowly the consumer goes.
//   Next()    hands out the next result: in input order (imap: it waits
//             for the next chunk's task itself, one futex hop, and collects
//             it), or in completion order (imap_unordered: chunks are
//             collected by whichever thread gets there first). A failed
//             chunk's exception is thrown once, at its position; then
//             iteration goes on.
//   Abandon() the handle went away: stop reading the input; chunks in
//             flight finish in the background and are dropped.
//
// Open with the engine until its input ended (or it was abandoned): a pool
// closed meanwhile still takes its chunks, and join() has it read the rest
// of its input (Drain: every chunk is then collected by the callback
// thread, so the results wait in the stream for the consumer).
//
// An input that throws (a generator, an iterator's ++) ends the input
// there: the results before it are handed out, then its exception at that
// position (a half-read chunk is dropped, as CPython does), then the end.
// An error submitting one chunk (an argument that cannot be encoded) is
// that chunk's outcome; a pool that stopped accepting work ends the input.
//
// Thread safety: one consumer (Next) at a time; TopUp/Abandon/OnResult/
// OnError from any thread.
#ifndef SHOAL_POOL_INTERNAL_STREAM_JOB_H_
#define SHOAL_POOL_INTERNAL_STREAM_JOB_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/ipc/codec.h"
#include "shoal/pool/internal/callable.h"
#include "shoal/pool/internal/engine.h"
#include "shoal/pool/internal/job.h"

namespace shoal::internal {

// The untyped part: which chunks are read, submitted, finished, handed out.
class StreamCore : public Job, public Stream {
 public:
  struct Options {
    bool ordered = true;
    // Chunks submitted and not yet handed out, at most.
    std::size_t max_ahead = 4;
    // Executor.map's timeout: Next() throws TimeoutError past it.
    std::optional<Deadline> overall;
  };

  StreamCore(std::shared_ptr<Engine> engine, const Options& options);
  ~StreamCore() override;

  // Registers with the engine (throws ValueError / BrokenPool when the pool
  // takes no new calls) and submits the first chunks.
  void Open();
  // False (doing nothing) when another thread is reading the input.
  bool TopUp();
  void Abandon();
  // Stream: reads the rest of the input (join(), and Executor.map without
  // buffersize, which submits every call at once as Python does).
  bool Drain(const Deadline& deadline) override;
  void StopInput() override;

  void OnError(uint32_t index, std::exception_ptr error, bool) override;

 protected:
  // What the next chunk to hand out is.
  struct Turn {
    bool end = false;
    uint32_t chunk = 0;
    std::exception_ptr error;  // the chunk failed
  };
  // Waits until the next chunk to hand out has an outcome (or the stream
  // ended). Throws TimeoutError. The typed part then takes the chunk's
  // items (under mu_) and calls Handed() once it has handed all of them.
  Turn NextTurn(const Deadline& deadline);
  void Handed();

  // The typed part: reads the next chunk of the input into its buffer.
  // False when the input has nothing more. Throws what the input throws.
  virtual bool ReadChunk() = 0;
  // Submits the buffered chunk as chunk `index` of this job.
  virtual TaskRef SubmitChunk(uint32_t index, bool notify) = 0;
  // Drops every decoded item (the stream was abandoned).
  virtual void ClearItemsLocked() {}

  // Called with mu_ held by OnResult of the typed part: the chunk's items
  // are stored; record that it finished.
  bool FinishLocked(uint32_t index, std::exception_ptr error);

  Engine& engine() { return *engine_; }

  std::mutex mu_;

 private:
  void SubmitOne(bool notify);
  void EndLocked();


  const std::shared_ptr<Engine> engine_;
  Options options_;
  std::mutex feed_mu_;  // one reader of the input at a time
  std::condition_variable cv_;
  // Under mu_.
  std::map<uint32_t, TaskRef> inflight_;          // submitted, no outcome
  std::map<uint32_t, std::exception_ptr> done_;   // outcome, not handed out
  std::deque<uint32_t> done_order_;               // unordered: completion order
  uint32_t next_chunk_ = 0;   // chunks read from the input
  uint32_t next_turn_ = 0;    // ordered: the next chunk to hand out
  uint32_t handed_ = 0;       // chunks fully handed out
  bool ended_ = false;        // the input ended (or failed, or abandoned)
  bool abandoned_ = false;
  std::exception_ptr input_error_;  // unordered: thrown after the rest
  uint32_t input_error_at_ = 0;
  bool registered_ = false;   // open with the engine (until ended_)
  bool draining_ = false;     // no consumer to collect: notify every chunk
};

// The typed results of a stream of V.
template <class V>
class StreamJob : public StreamCore {
 public:
  using StreamCore::StreamCore;

  // The next result; nullopt at the end. Throws a failed chunk's exception
  // once, at its position; TimeoutError when nothing came in time.
  std::optional<V> Next(const Deadline& deadline) {
    for (;;) {
      if (pos_ < cur_.size()) {
        V v = std::move(cur_[pos_++]);
        if (pos_ == cur_.size()) FinishCurrent();
        return v;
      }
      const Turn t = NextTurn(deadline);
      if (t.end) return std::nullopt;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = items_.find(t.chunk);
        if (it != items_.end()) {
          cur_ = std::move(it->second);
          items_.erase(it);
        } else {
          cur_.clear();
        }
      }
      pos_ = 0;
      if (t.error) {
        FinishCurrent();
        std::rethrow_exception(t.error);
      }
      if (cur_.empty()) FinishCurrent();
    }
  }

  void OnResult(uint32_t index, std::span<const std::byte> bytes) override {
    std::vector<V> items = shoal::Decode<std::vector<V>>(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (FinishLocked(index, nullptr)) items_.emplace(index, std::move(items));
  }

 protected:
  void ClearItemsLocked() override { items_.clear(); }

 private:
  void FinishCurrent() {
    cur_.clear();
    pos_ = 0;
    Handed();
  }

  std::map<uint32_t, std::vector<V>> items_;  // under mu_
  std::vector<V> cur_;  // the chunk being handed out (consumer only)
  std::size_t pos_ = 0;
};

// Where a stream's items come from: a range, an iterator pair, or a
// generator (a callable returning std::optional<T>, nullopt at the end).
template <class Item>
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Appends up to `n` items to `out`; false when the input is exhausted.
  virtual bool Fill(std::vector<Item>& out, std::size_t n) = 0;
};

// Appends up to `n` items from [it, end) to `out`; false once at the end.
template <class Item, class It, class S>
bool FillFrom(It& it, const S& end, std::vector<Item>& out, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) {
    if (it == end) return false;
    out.push_back(Item(*it));
    ++it;
  }
  return it != end;
}

template <class Item, class It, class S>
class IteratorSource final : public ChunkSource<Item> {
 public:
  IteratorSource(It first, S last) : it_(std::move(first)), end_(std::move(last)) {}
  bool Fill(std::vector<Item>& out, std::size_t n) override {
    return FillFrom(it_, end_, out, n);
  }

 private:
  It it_;
  S end_;
};

template <class Item, class R>
class RangeSource final : public ChunkSource<Item> {
 public:
  explicit RangeSource(R&& r)
      : range_(std::views::all(std::forward<R>(r))),
        it_(std::ranges::begin(range_)) {}
  bool Fill(std::vector<Item>& out, std::size_t n) override {
    return FillFrom(it_, std::ranges::end(range_), out, n);
  }

 private:
  std::views::all_t<R> range_;
  std::ranges::iterator_t<std::views::all_t<R>> it_;
};

template <class Item, class G>
class GeneratorSource final : public ChunkSource<Item> {
 public:
  explicit GeneratorSource(G g) : g_(std::move(g)) {}
  bool Fill(std::vector<Item>& out, std::size_t n) override {
    for (std::size_t k = 0; k < n; ++k) {
      auto v = g_();
      if (!v) return false;
      out.push_back(Item(std::move(*v)));
    }
    return true;
  }

 private:
  G g_;
};

// A stream fed from a ChunkSource<Item> through the chunk invoker Inv of Fn.
template <class V, class Item, class Fn, class Inv>
class FedStream final : public StreamJob<V> {
 public:
  FedStream(std::shared_ptr<Engine> engine,
            const typename StreamCore::Options& options,
            std::unique_ptr<ChunkSource<Item>> source, Fn fn,
            std::size_t chunksize)
      : StreamJob<V>(std::move(engine), options),
        source_(std::move(source)),
        fn_(std::move(fn)),
        writer_(fn_),
        chunksize_(chunksize == 0 ? 1 : chunksize) {}

 protected:
  bool ReadChunk() override {
    buf_.clear();
    if (source_done_) return false;
    buf_.reserve(chunksize_);
    if (!source_->Fill(buf_, chunksize_)) source_done_ = true;
    return !buf_.empty();
  }
  TaskRef SubmitChunk(uint32_t index, bool notify) override {
    const std::span<const Item> items(buf_);
    auto write = [&](std::span<std::byte> dst) { writer_.Write(items, dst); };
    SubmitSpec spec{InvokerRef<Inv>(),
                    writer_.size(items),
                    write,
                    this->shared_from_this(),
                    index,
                    std::chrono::nanoseconds(-1),
                    notify,
                    /*continuation=*/true};
    return *this->engine().Submit(spec, Deadline::Infinite());
  }

 private:
  std::unique_ptr<ChunkSource<Item>> source_;
  Fn fn_;
  ChunkWriter<Fn> writer_;
  const std::size_t chunksize_;
  std::vector<Item> buf_;
  bool source_done_ = false;
};

}  // namespace shoal::internal

#endif  // SHOAL_POOL_INTERNAL_STREAM_JOB_H_
