// Copyright 2026 The shoal Authors.
//
// deadline.h moved to <shoal/base/deadline.h>, below every layer. This
// forwarding header stays for one release; include the new path.
#ifndef SHOAL_SYNC_DEADLINE_H_
#define SHOAL_SYNC_DEADLINE_H_

#include "shoal/base/deadline.h"

#endif  // SHOAL_SYNC_DEADLINE_H_
