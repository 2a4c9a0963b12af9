#ifndef CONSUMERD_CHIREDIS_SHIM_H
#define CONSUMERD_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
