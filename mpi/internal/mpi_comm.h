// Copyright 2026 The shoal Authors.
//
// mpi_comm.h: the MPI handle shoal::mpi's .cc files share. Only .cc files
// include it: public headers never pull in <mpi.h>, so a program using
// shoal::mpi needs MPI's libraries to link but not its include paths.
#ifndef SHOAL_MPI_INTERNAL_MPI_COMM_H_
#define SHOAL_MPI_INTERNAL_MPI_COMM_H_

#include <mpi.h>

namespace shoal::mpi::internal {

// shoal's own duplicate of MPI_COMM_WORLD (its messages never meet a
// program's), with MPI_ERRORS_RETURN: a failed call is an error code that
// shoal reports, not an abort of the job.
struct MpiComm {
  MPI_Comm comm = MPI_COMM_NULL;
};

}  // namespace shoal::mpi::internal

#endif  // SHOAL_MPI_INTERNAL_MPI_COMM_H_
