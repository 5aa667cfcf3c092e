// Thread count shared by every OpenMP region of fastseg. Kernels split work into independent
// output tiles whose contents never depend on the number of threads.
#pragma once

namespace fastseg {

int num_threads();             // defaults to OpenMP's max threads (OMP_NUM_THREADS)
void set_num_threads(int n);   // n >= 1

// Threads for a parallel region doing `work` operations (flops, or elements moved): one thread
// per ~1M operations, at most num_threads(). Below that, waking a second thread costs more than
// it saves, and on a busy machine it can wait a whole scheduler time slice.
int threads_for(double work);

}  // namespace fastseg
