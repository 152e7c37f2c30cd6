/* Snapshot restore in C: see restore.c. */
#ifndef EXCHANGE_RESTORE_H
#define EXCHANGE_RESTORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* load_positions(columns, accounts, names, slots, indexes, positions, trades): what
 * snapshot._load_positions needs done a million times. */
PyObject *load_positions(PyObject *module, PyObject *args);

#endif
