/* The engine's accepted-command path in C: see fastpath.c. */
#ifndef EXCHANGE_FASTPATH_H
#define EXCHANGE_FASTPATH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Module functions: configure(**schema) (schema.c), load_positions(...) (restore.c) and
 * trade_id(user_id, order_id). */
extern PyMethodDef fastpath_functions[];

/* Add FastPathType to the module. 0, or -1 with an exception set. */
int fastpath_register(PyObject *module);

#endif
