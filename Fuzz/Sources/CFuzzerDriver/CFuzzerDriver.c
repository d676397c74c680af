// Declarations only (include/CFuzzerDriver.h); the driver is in libFuzzer (-sanitize=fuzzer).
#include "CFuzzerDriver.h"
