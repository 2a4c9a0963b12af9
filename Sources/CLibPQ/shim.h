#ifndef CONSUMERD_CLIBPQ_SHIM_H
#define CONSUMERD_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
