#ifndef CONSUMERD_CAVRO_SHIM_H
#define CONSUMERD_CAVRO_SHIM_H
#include <avro.h>

// avro-c's value API is a set of function-like macros over an interface
// table; Swift imports none of them. One static inline wrapper per macro we use.

static inline avro_type_t cavro_type(const avro_value_t *v) { return avro_value_get_type(v); }
static inline int cavro_reset(avro_value_t *v) { return avro_value_reset(v); }
static inline void cavro_iface_decref(avro_value_iface_t *iface) { avro_value_iface_decref(iface); }

static inline int cavro_get_boolean(const avro_value_t *v, int *out) { return avro_value_get_boolean(v, out); }
static inline int cavro_get_int(const avro_value_t *v, int32_t *out) { return avro_value_get_int(v, out); }
static inline int cavro_get_long(const avro_value_t *v, int64_t *out) { return avro_value_get_long(v, out); }
static inline int cavro_get_float(const avro_value_t *v, float *out) { return avro_value_get_float(v, out); }
static inline int cavro_get_double(const avro_value_t *v, double *out) { return avro_value_get_double(v, out); }
static inline int cavro_get_bytes(const avro_value_t *v, const void **buf, size_t *size) { return avro_value_get_bytes(v, buf, size); }
/* Strings come back with their terminating NUL counted in size. */
static inline int cavro_get_string(const avro_value_t *v, const char **str, size_t *size) { return avro_value_get_string(v, str, size); }
static inline int cavro_get_enum(const avro_value_t *v, int *out) { return avro_value_get_enum(v, out); }
static inline int cavro_get_fixed(const avro_value_t *v, const void **buf, size_t *size) { return avro_value_get_fixed(v, buf, size); }
static inline int cavro_get_size(const avro_value_t *v, size_t *size) { return avro_value_get_size(v, size); }
static inline int cavro_get_by_index(const avro_value_t *v, size_t index, avro_value_t *child, const char **name) {
    return avro_value_get_by_index(v, index, child, name);
}
static inline int cavro_get_discriminant(const avro_value_t *v, int *out) { return avro_value_get_discriminant(v, out); }
static inline int cavro_get_current_branch(const avro_value_t *v, avro_value_t *branch) { return avro_value_get_current_branch(v, branch); }

static inline int cavro_set_null(avro_value_t *v) { return avro_value_set_null(v); }
static inline int cavro_set_boolean(avro_value_t *v, int b) { return avro_value_set_boolean(v, b); }
static inline int cavro_set_int(avro_value_t *v, int32_t i) { return avro_value_set_int(v, i); }
static inline int cavro_set_long(avro_value_t *v, int64_t l) { return avro_value_set_long(v, l); }
static inline int cavro_set_float(avro_value_t *v, float f) { return avro_value_set_float(v, f); }
static inline int cavro_set_double(avro_value_t *v, double d) { return avro_value_set_double(v, d); }
static inline int cavro_set_bytes(avro_value_t *v, void *buf, size_t size) { return avro_value_set_bytes(v, buf, size); }
static inline int cavro_set_string_len(avro_value_t *v, const char *str, size_t size) { return avro_value_set_string_len(v, str, size); }
static inline int cavro_set_enum(avro_value_t *v, int e) { return avro_value_set_enum(v, e); }
static inline int cavro_set_fixed(avro_value_t *v, void *buf, size_t size) { return avro_value_set_fixed(v, buf, size); }
static inline int cavro_append(avro_value_t *v, avro_value_t *child, size_t *index) { return avro_value_append(v, child, index); }
static inline int cavro_add(avro_value_t *v, const char *key, avro_value_t *child, size_t *index, int *is_new) {
    return avro_value_add(v, key, child, index, is_new);
}
static inline int cavro_set_branch(avro_value_t *v, int discriminant, avro_value_t *branch) {
    return avro_value_set_branch(v, discriminant, branch);
}

#endif
