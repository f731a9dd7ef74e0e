// Copyright 2026 The shoal Authors.
//
// front.h: what shoal::mpi::Executor and shoal::mpi::Pool share: their
// session on the World, and the templates that turn a call, a map or an
// imap into task messages and Sinks.
//
// A call is encoded exactly as for a local pool (pool/internal/callable.h:
// the invoker's CodeRef goes in the message header, the callable's state
// and the arguments in the payload), by the submitting thread, straight
// into the buffer MPI_Isend will send. Outcomes reach the same parent-side
// job types the local pool uses (pool/internal/jobs.h ResultJob, in its
// engine-less mode; pool/promise.h is that mode's public face), so the
// Future<T> and AsyncResult<T> handed out are the local ones.
#ifndef SHOAL_MPI_INTERNAL_FRONT_H_
#define SHOAL_MPI_INTERNAL_FRONT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"
#include "shoal/ipc/codec.h"
#include "shoal/mpi/imap_result.h"
#include "shoal/mpi/internal/wire.h"
#include "shoal/mpi/internal/world.h"
#include "shoal/pool/async_result.h"
#include "shoal/pool/context.h"
#include "shoal/pool/internal/callable.h"
#include "shoal/pool/internal/jobs.h"
#include "shoal/pool/pool.h"

namespace shoal::mpi::internal {

// ResultJob<T> -> T.
template <class J>
struct JobValue;
template <class T>
struct JobValue<shoal::internal::ResultJob<T>> {
  using type = T;
};

// One call's outcome into a ResultJob (a Future or an AsyncResult).
template <class T>
class ResultSink final : public Sink {
 public:
  explicit ResultSink(std::shared_ptr<shoal::internal::ResultJob<T>> job)
      : job_(std::move(job)) {}
  bool Start(uint32_t) override { return job_->SetRunning(); }
  void Done(uint32_t, std::span<const std::byte> bytes) override {
    job_->OnResult(0, bytes);  // decodes; a CodecError goes to Fail
  }
  void Fail(uint32_t, std::exception_ptr e) override {
    job_->SetError(std::move(e));
  }
  void Cancel(uint32_t) override { job_->CancelExternal(); }

 private:
  std::shared_ptr<shoal::internal::ResultJob<T>> job_;
};

// The chunks of a map into one vector, then into a ResultJob.
template <class V>
class MapSink final : public Sink {
 public:
  MapSink(std::shared_ptr<shoal::internal::ResultJob<std::vector<V>>> job,
          std::vector<std::size_t> offsets, std::size_t total)
      : job_(std::move(job)),
        offsets_(std::move(offsets)),
        out_(total),
        remaining_(offsets_.size()) {}
  void Done(uint32_t index, std::span<const std::byte> bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_) return;
    if (index >= offsets_.size()) throw CodecError("map: bad chunk index");
    const std::size_t begin = offsets_[index];
    const std::size_t end =
        index + 1 < offsets_.size() ? offsets_[index + 1] : out_.size();
    CodecReader r(bytes, "map chunk result");
    const uint64_t n = r.ReadLength(shoal::internal::MinSize<V>());
    if (n != end - begin) {
      r.Fail("chunk of " + std::to_string(end - begin) + " items returned " +
             std::to_string(n) + " results");
    }
    if constexpr (shoal::internal::kIsRaw<V>) {
      r.ReadInto(static_cast<void*>(out_.data() + begin), n * sizeof(V));
    } else {
      for (std::size_t i = begin; i < end; ++i) out_[i] = r.Get<V>();
    }
    if (r.remaining() != 0) r.Fail("trailing bytes after the results");
    if (--remaining_ == 0) job_->SetValue(std::move(out_));
  }
  void Fail(uint32_t, std::exception_ptr e) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_) return;
    failed_ = true;  // the first error decides, as Python's MapResult
    job_->SetError(std::move(e));
  }

 private:
  std::shared_ptr<shoal::internal::ResultJob<std::vector<V>>> job_;
  std::vector<std::size_t> offsets_;
  std::mutex mu_;
  std::vector<V> out_;
  std::size_t remaining_;
  bool failed_ = false;
};

// imap chunks into an IMapResult.
template <class V>
class StreamSink final : public Sink {
 public:
  explicit StreamSink(std::shared_ptr<typename IMapResult<V>::Shared> s)
      : s_(std::move(s)) {}
  void Done(uint32_t index, std::span<const std::byte> bytes) override {
    s_->Finish(index, shoal::Decode<std::vector<V>>(bytes));
  }
  void Fail(uint32_t index, std::exception_ptr e) override {
    s_->Finish(index, std::move(e));
  }

 private:
  std::shared_ptr<typename IMapResult<V>::Shared> s_;
};

// What the options of Executor and Pool have in common.
struct FrontOptions {
  std::size_t processes_per_rank = 0;
  std::size_t max_inflight_per_rank = 0;
  std::optional<Context> context{};
  std::size_t max_tasks_per_child = 0;
  Timeout task_timeout{};
};

// A session on the World and the templates that submit to it.
class Front {
 public:
  Front(const Front&) = delete;
  Front& operator=(const Front&) = delete;

  // Worker processes the session runs tasks in: live ranks x processes per
  // rank (1 per rank in inline mode).
  std::size_t workers() const;
  // Tasks each rank holds at most (sent, not finished).
  uint32_t per_rank() const { return per_rank_; }

 protected:
  explicit Front(const FrontOptions& options);
  ~Front();

  World& world() const { return *world_; }
  uint64_t session() const { return session_; }
  // Ends the session on the ranks (idempotent).
  void EndSession();

  // --- one call -----------------------------------------------------------
  // Returns the job; `future` picks Future semantics (ready before
  // callbacks) over Pool's (callbacks before ready).
  template <class Cb, class ECb, class F, class... Args>
  auto SubmitCall(bool future, const Async<Cb, ECb>& opts, F fn,
                  Args&&... args) {
    using Fn = std::decay_t<F>;
    using Raw = typename shoal::internal::RawParamsOf<Fn, Args...>::type;
    shoal::internal::CheckCall<Fn, Raw, Args...>();
    using Inv = shoal::internal::ApplyInvoker<Fn, Raw>;
    using R = typename Inv::R;
    Fn f = std::move(fn);
    shoal::internal::BoundCall<Fn, Raw, Inv, Args...> call(
        f, std::forward<Args>(args)...);
    auto job = std::make_shared<shoal::internal::ResultJob<R>>(
        world_->callback_runner());
    if (future) {
      job->set_callbacks_after_ready();
    } else {
      job->SetCallbacks(opts.callback, opts.error_callback);
    }
    Message m(Kind::kTask, session_, 0, call.size());
    m.header().invoker = call.invoker();
    call.Write(m.payload());
    world_->Submit(session_, std::move(m),
                   std::make_shared<ResultSink<R>>(job), 0);
    return job;
  }

  // --- map / starmap into one vector ----------------------------------------
  template <bool kStar, class Cb, class ECb, class F, class R>
  auto SubmitMap(const Async<Cb, ECb>& opts, F fn, R&& items,
                 std::size_t chunksize) {
    using Elem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
    using Fn = std::decay_t<F>;
    using Raw = shoal::internal::RawFor<Fn, Elem, kStar>;
    shoal::internal::CheckSendable<Fn>();
    using Inv = shoal::internal::ChunkInvoker<Fn, Raw, kStar>;
    using Item = typename Inv::Item;
    using V = typename Inv::V;
    static_assert(Encodable<Item>, "shoal: map items must be Encodable");
    static_assert(std::is_default_constructible_v<V>,
                  "shoal: map results must be default-constructible");
    if constexpr (!std::ranges::random_access_range<R> ||
                  !std::ranges::sized_range<R>) {
      std::vector<Item> all;  // Python makes a list of such iterables first
      for (auto&& e : items) all.push_back(Item(e));
      return SubmitMap<kStar>(opts, std::move(fn), all, chunksize);
    } else {
      const std::size_t n = std::ranges::size(items);
      if (chunksize == 0) {
        // CPython's default: about 4 chunks per worker.
        const std::size_t parts = 4 * std::max<std::size_t>(workers(), 1);
        chunksize = std::max<std::size_t>((n + parts - 1) / parts, 1);
      }
      std::vector<std::size_t> offsets;
      for (std::size_t off = 0; off < n; off += chunksize) {
        offsets.push_back(off);
      }
      auto job = std::make_shared<shoal::internal::ResultJob<std::vector<V>>>(
          world_->callback_runner());
      job->SetCallbacks(opts.callback, opts.error_callback);
      AsyncResult<std::vector<V>> result(job);
      if (offsets.empty()) {
        job->SetValue(std::vector<V>{});
        return result;
      }
      auto sink = std::make_shared<MapSink<V>>(job, offsets, n);
      shoal::internal::ChunkWriter<Fn> writer(fn);
      std::vector<Item> tmp;
      for (std::size_t c = 0; c < offsets.size(); ++c) {
        const std::size_t begin = offsets[c];
        const std::size_t len = std::min(chunksize, n - begin);
        std::span<const Item> chunk;
        if constexpr (std::ranges::contiguous_range<R> &&
                      std::is_same_v<Elem, Item>) {
          chunk = std::span<const Item>(std::ranges::data(items) + begin, len);
        } else {
          tmp.clear();
          tmp.reserve(len);
          auto it = std::ranges::begin(items) + begin;
          for (std::size_t k = 0; k < len; ++k, ++it) tmp.push_back(Item(*it));
          chunk = std::span<const Item>(tmp);
        }
        try {
          world_->Submit(session_, ChunkMessage<Inv>(writer, chunk), sink,
                         static_cast<uint32_t>(c));
        } catch (...) {
          sink->Fail(0, std::current_exception());
          throw;
        }
      }
      return result;
    }
  }

  // --- imap: chunks submitted lazily -----------------------------------------
  template <bool kStar, class Elem, class F, class MakeSource>
  auto MakeStream(F fn, std::size_t chunksize, bool ordered,
                  MakeSource&& make_source,
                  std::optional<Deadline> overall = std::nullopt) {
    using Fn = std::decay_t<F>;
    using Raw = shoal::internal::RawFor<Fn, Elem, kStar>;
    shoal::internal::CheckSendable<Fn>();
    using Inv = shoal::internal::ChunkInvoker<Fn, Raw, kStar>;
    using Item = typename Inv::Item;
    using V = typename Inv::V;
    static_assert(Encodable<Item>, "shoal: imap items must be Encodable");
    if (chunksize == 0) chunksize = 1;
    using Result = IMapResult<V>;
    auto shared = std::make_shared<typename Result::Shared>();
    shared->ordered = ordered;
    std::shared_ptr<shoal::internal::ChunkSource<Item>> source =
        make_source(std::type_identity<Item>{});
    auto writer =
        std::make_shared<shoal::internal::ChunkWriter<Fn>>(Fn(std::move(fn)));
    auto sink = std::make_shared<StreamSink<V>>(shared);
    World* world = world_;
    const uint64_t session = session_;
    typename Result::SubmitOne submit =
        [source, writer, sink, world, session,
         chunksize](uint32_t index) -> typename Result::Submitted {
      std::vector<Item> items;
      items.reserve(chunksize);
      const bool more = source->Fill(items, chunksize);
      if (items.empty()) return Result::kEnd;
      world->Submit(session,
                    ChunkMessage<Inv>(*writer, std::span<const Item>(items)),
                    sink, index);
      return more ? Result::kMore : Result::kLast;
    };
    return Result(shared, std::move(submit),
                  2 * static_cast<std::size_t>(per_rank_) *
                      std::max<std::size_t>(world_->live_workers(), 1),
                  overall);
  }

  void CheckOpen() const;

 private:
  // The World stamps the session into the header.
  template <class Inv, class Fn, class Item>
  static Message ChunkMessage(const shoal::internal::ChunkWriter<Fn>& writer,
                              std::span<const Item> items) {
    Message m(Kind::kTask, 0, 0, writer.size(items));
    m.header().invoker = shoal::internal::InvokerRef<Inv>();
    writer.Write(items, m.payload());
    return m;
  }

  World* world_;
  uint64_t session_ = 0;
  uint32_t per_rank_ = 1;
  std::size_t processes_ = 0;
  bool ended_ = false;
  std::mutex end_mu_;
};

}  // namespace shoal::mpi::internal

#endif  // SHOAL_MPI_INTERNAL_FRONT_H_
