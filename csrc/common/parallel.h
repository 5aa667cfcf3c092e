// Thread count shared by every OpenMP region of fastseg. Kernels split work into independent
// output tiles whose contents never depend on the number of threads.
#pragma once

namespace fastseg {

int num_threads();             // defaults to OpenMP's max threads (OMP_NUM_THREADS)
void set_num_threads(int n);   // n >= 1

}  // namespace fastseg
