#ifndef CONSUMERD_CAVRO_SHIM_H
#define CONSUMERD_CAVRO_SHIM_H
#include <avro.h>
#endif
