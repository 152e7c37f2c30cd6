/* The trigger levels' sorted multiset of (level, position id) pairs, as a CPython type.
 *
 * Python side: engine_svc.core._native.LevelIndex (see levels.c for the method list).
 * C side: what the engine's C paths (fastpath.c, restore.c) call without going through Python.
 */
#ifndef EXCHANGE_LEVELS_H
#define EXCHANGE_LEVELS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

extern PyTypeObject LevelIndexType;

typedef struct {
    int64_t level;
    int64_t id;
} LevelPair;

/* Replace the contents with `n` pairs in any order. Takes ownership of `pairs` (a PyMem
 * block, sorted in place, then freed) whatever the outcome. 0, or -1 with an exception set. */
int level_index_assign(PyObject *index, LevelPair *pairs, Py_ssize_t n);

/* Add one pair. 0, or -1 with an exception set (MemoryError). */
int level_index_add(PyObject *index, int64_t level, int64_t pos_id);

/* Remove one pair. 0, or -1 with KeyError((level, pos_id)) set when it is missing. */
int level_index_remove(PyObject *index, int64_t level, int64_t pos_id);

/* Add LevelIndexType to the module. 0, or -1 with an exception set. */
int level_index_register(PyObject *module);

#endif
