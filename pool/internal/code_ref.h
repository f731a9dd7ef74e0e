// Copyright 2026 The shoal Authors.
//
// code_ref.h moved to <shoal/base/internal/code_ref.h> (a Barrier's action
// needs it below pool/). This forwarding header stays for one release.
#ifndef SHOAL_POOL_INTERNAL_CODE_REF_H_
#define SHOAL_POOL_INTERNAL_CODE_REF_H_

#include "shoal/base/internal/code_ref.h"

#endif  // SHOAL_POOL_INTERNAL_CODE_REF_H_
