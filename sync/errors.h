// Copyright 2026 The shoal Authors.
//
// errors.h moved to <shoal/base/errors.h>, below every layer. This forwarding
// header stays for one release; include the new path.
#ifndef SHOAL_SYNC_ERRORS_H_
#define SHOAL_SYNC_ERRORS_H_

#include "shoal/base/errors.h"

#endif  // SHOAL_SYNC_ERRORS_H_
