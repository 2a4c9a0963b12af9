#ifndef CONSUMERD_CZSTD_SHIM_H
#define CONSUMERD_CZSTD_SHIM_H
#include <zstd.h>
#endif
