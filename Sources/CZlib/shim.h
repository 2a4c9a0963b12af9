#ifndef CONSUMERD_CZLIB_SHIM_H
#define CONSUMERD_CZLIB_SHIM_H
#include <zlib.h>
#endif
