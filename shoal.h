// Copyright 2026 The shoal Authors.
//
// shoal.h: the whole public library in one include.
//
//   #include <shoal/shoal.h>
//
// It includes every public header of base/, sync/, ipc/ and pool/ and
// <shoal/version.h>. Including the one header you use (for example
// <shoal/ipc/queue.h>) compiles faster; both spellings give the same
// declarations. Link with the library: Bazel `@shoal//:shoal`, CMake
// `shoal::shoal`, pkg-config `shoal` (README, "Use shoal in your project").
//
// Headers under .../internal/ are details of the ones below: they are
// installed because the public headers include them, but they are not part
// of the interface and may change in any release.
#ifndef SHOAL_SHOAL_H_
#define SHOAL_SHOAL_H_

#include "shoal/version.h"

// base/: exceptions and deadlines, used by every layer.
#include "shoal/base/deadline.h"
#include "shoal/base/errors.h"

// sync/: process-shared locks, semaphores, events, conditions, barriers.
#include "shoal/sync/barrier.h"
#include "shoal/sync/condition.h"
#include "shoal/sync/event.h"
#include "shoal/sync/lock.h"
#include "shoal/sync/lock_status.h"
#include "shoal/sync/rlock.h"
#include "shoal/sync/semaphore.h"

// ipc/: regions, the codec, pipes, queues, values and arrays, channels.
#include "shoal/ipc/array.h"
#include "shoal/ipc/blackboard.h"
#include "shoal/ipc/broadcast.h"
#include "shoal/ipc/channel.h"
#include "shoal/ipc/codec.h"
#include "shoal/ipc/connection.h"
#include "shoal/ipc/latest.h"
#include "shoal/ipc/layout.h"
#include "shoal/ipc/listener.h"
#include "shoal/ipc/managed_region.h"
#include "shoal/ipc/queue.h"
#include "shoal/ipc/queue_options.h"
#include "shoal/ipc/region.h"
#include "shoal/ipc/shared.h"
#include "shoal/ipc/value.h"
#include "shoal/ipc/wait.h"

// pool/: processes, start methods, pools, executors.
#include "shoal/pool/async.h"
#include "shoal/pool/async_result.h"
#include "shoal/pool/context.h"
#include "shoal/pool/executor.h"
#include "shoal/pool/handles.h"
#include "shoal/pool/pool.h"
#include "shoal/pool/process.h"
#include "shoal/pool/promise.h"
#include "shoal/pool/reusable_executor.h"
#include "shoal/pool/service.h"
#include "shoal/pool/thread_pool.h"

#endif  // SHOAL_SHOAL_H_
