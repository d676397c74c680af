// libFuzzer's driver, called from Swift (FuzzSupport.runFuzzer). SwiftPM links an executable with
// `main` defined as the module's Swift entry point, so libFuzzer's own `main` is never used: each
// target's `@main` calls FuzzSupport.runFuzzer, which hands LLVMFuzzerTestOneInput to this driver.
#ifndef IVPACK_FUZZ_DRIVER_H
#define IVPACK_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));

#endif
