#ifndef CONSUMERD_CYAML_SHIM_H
#define CONSUMERD_CYAML_SHIM_H
#include <yaml.h>
#endif
