/* engine_svc.core._native: the engine core's hot paths in C (trigger levels, remembered
 * answers, accepted commands, settlement). The pure-Python engine stays the reference they
 * are tested against. */
#include "answers.h"
#include "fastpath.h"
#include "levels.h"

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "engine_svc.core._native",
    .m_doc = "The engine core's hot paths in C; see engine_svc/core/native/.",
    .m_size = -1,
    .m_methods = NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    native_module.m_methods = fastpath_functions;
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) return NULL;
    if (level_index_register(module) < 0 || answer_table_register(module) < 0 ||
        fastpath_register(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
