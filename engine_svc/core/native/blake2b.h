/* BLAKE2b (RFC 7693), unkeyed, for deterministic trade ids without a call into hashlib. */
#ifndef EXCHANGE_BLAKE2B_H
#define EXCHANGE_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

/* Hash `len` bytes of `data` into `out_len` (1..64) bytes of `out`. */
void blake2b(uint8_t *out, size_t out_len, const uint8_t *data, size_t len);

#endif
