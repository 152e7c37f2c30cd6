/* The engine's memory of answered orders: (user_id, order_id) -> encoded answer, each user's
 * last `per_user` kept (oldest forgotten first), as a CPython type.
 *
 * Python side: engine_svc.core._native.AnswerTable (see answers.c for the method list), which
 * engine_svc.core.idempotency.OrderMemory subclasses.
 * C side: what the engine's fast path calls without going through Python. `table` may be an
 * instance of a subclass; it is not type-checked here.
 */
#ifndef EXCHANGE_ANSWERS_H
#define EXCHANGE_ANSWERS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern PyTypeObject AnswerTableType;

/* Add AnswerTableType to the module. 0, or -1 with an exception set. */
int answer_table_register(PyObject *module);

/* 1 if remembered, 0 if not, -1 with an exception (only from hashing). user_id, order_id exact
 * strs. */
int answer_table_contains(PyObject *table, PyObject *user_id, PyObject *order_id);

/* Remember `encoded` (an exact tuple) for a key that is not present; evicts the same user's
 * oldest past `per_user`. 0, or -1 with an exception. Does not steal references. A no-op when
 * `per_user` is 0.
 * The exception is ValueError if the key is present (nothing changes), else MemoryError. */
int answer_table_put(PyObject *table, PyObject *user_id, PyObject *order_id, PyObject *encoded);

#endif
