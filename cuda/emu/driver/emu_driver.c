/* emu_driver.c - the emulated build's stand-in for the NVIDIA driver
 * (built as libcuda.so.1 in <build>/emu/).  core/engine/seq_cuda_loader.c
 * opens it where a real build opens the system's libcuda.so.1, and the
 * emulated runtime (emu_runtime.c) asks it for the devices, as the real CUDA
 * runtime asks the driver.  SEQLUA_EMU_DEVICES=N sets how many devices it
 * reports (default 1; 0 reproduces "driver present, no device"). */
#include <stdlib.h>

#include <cuda.h>

CUresult cuInit(unsigned int flags) { return flags == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }

CUresult cuDriverGetVersion(int *version) {
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  *version = CUDA_VERSION; /* as new as the headers the plugin was built with */
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  const char *e = getenv("SEQLUA_EMU_DEVICES");
  *count = e && e[0] ? atoi(e) : 1;
  if (*count < 0) *count = 0;
  return CUDA_SUCCESS;
}
