/* A snapshot's open positions back into the engine's objects, in C (restore.h). */
#include "restore.h"

#include "levels.h"
#include "schema.h"

typedef struct {
    LevelPair *pairs;
    Py_ssize_t len, room;
} PairBuffer;

static int push_pair(PairBuffer *buffer, PyObject *level, int64_t pos_id) {
    if (level == Py_None) return 0;
    int64_t lv;
    if (int64_value(level, "a trigger level", &lv) < 0) return -1;
    if (buffer->len == buffer->room) {
        Py_ssize_t room = buffer->room ? 2 * buffer->room : 1024;
        LevelPair *more = PyMem_Realloc(buffer->pairs, (size_t)room * sizeof(LevelPair));
        if (more == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        buffer->pairs = more;
        buffer->room = room;
    }
    buffer->pairs[buffer->len++] = (LevelPair){lv, pos_id};
    return 0;
}

/* The value, or None for a snapshot's 0 ("absent"), as `value or None`. New reference. */
static PyObject *or_none(PyObject *value) {
    int truth = PyObject_IsTrue(value);
    if (truth < 0) return NULL;
    return Py_NewRef(truth ? value : Py_None);
}

enum { POS_ID, TRADE_ID, ACCOUNT, ASSET, LONG, MARGIN, LEVERAGE, ENTRY, LIQUIDATION, STOP_LOSS,
       TAKE_PROFIT, OPENED_AT_MS, COLUMNS };

/* One row of the snapshot's position columns into a Position, its dicts and level buffers. */
static int load_row(PyObject *const *cols, Py_ssize_t row, PyObject *accounts, PyObject *names,
                    PyObject *slots, PyObject *positions, PyObject *trades, PairBuffer *buffers,
                    Py_ssize_t count) {
    PyObject *value[COLUMNS];
    for (int c = 0; c < COLUMNS; c++) value[c] = PyList_GET_ITEM(cols[c], row);
    Py_ssize_t account_row = PyLong_AsSsize_t(value[ACCOUNT]);
    Py_ssize_t asset_row = PyLong_AsSsize_t(value[ASSET]);
    if ((account_row == -1 || asset_row == -1) && PyErr_Occurred()) return -1;
    PyObject *account = PyList_GetItem(accounts, account_row);
    PyObject *asset = PyList_GetItem(names, asset_row);
    PyObject *slot_obj = PyList_GetItem(slots, asset_row);
    if (account == NULL || asset == NULL || slot_obj == NULL) return -1;
    if (Py_TYPE(account) != S.Account) {
        PyErr_SetString(PyExc_TypeError, "accounts must hold Account objects");
        return -1;
    }
    Py_ssize_t slot = PyLong_AsSsize_t(slot_obj);
    if (slot == -1 && PyErr_Occurred()) return -1;
    if (slot >= count) {
        PyErr_SetString(PyExc_ValueError, "slots point past indexes");
        return -1;
    }
    int64_t pos_id;
    if (int64_value(value[POS_ID], "a position id", &pos_id) < 0) return -1;
    int is_long = PyObject_IsTrue(value[LONG]);
    if (is_long < 0) return -1;

    PyObject *liquidation = or_none(value[LIQUIDATION]);
    PyObject *stop_loss = liquidation ? or_none(value[STOP_LOSS]) : NULL;
    PyObject *take_profit = stop_loss ? or_none(value[TAKE_PROFIT]) : NULL;
    PyObject *pos = take_profit ? alloc(S.Position) : NULL;
    int rc = -1;
    if (pos == NULL) goto done;
    PyObject_GC_UnTrack(pos); /* as fastpath.c's own positions: see its try_create */
    INIT(pos, POS.pos_id, value[POS_ID]);
    INIT(pos, POS.trade_id, value[TRADE_ID]);
    INIT(pos, POS.account, account);
    INIT(pos, POS.asset, asset);
    INIT(pos, POS.is_long, is_long ? Py_True : Py_False);
    INIT(pos, POS.margin, value[MARGIN]);
    INIT(pos, POS.leverage, value[LEVERAGE]);
    INIT(pos, POS.entry, value[ENTRY]);
    INIT(pos, POS.liquidation, liquidation);
    INIT(pos, POS.stop_loss, stop_loss);
    INIT(pos, POS.take_profit, take_profit);
    INIT(pos, POS.opened_at_ms, value[OPENED_AT_MS]);
    INIT(pos, POS.status, S.OPEN);
    INIT(pos, POS.loss_level, stop_loss != Py_None ? stop_loss : liquidation);
    INIT(pos, POS.ext, Py_None); /* snapshot._load_extended gives the others theirs */
    if (PyDict_SetItem(positions, value[POS_ID], pos) < 0 ||
        PyDict_SetItem(trades, value[TRADE_ID], pos) < 0 ||
        add_open(FIELD(account, ACC.open), value[POS_ID], pos) < 0)
        goto done;
    if (slot >= 0) {
        PairBuffer *side = buffers + 4 * slot + (is_long ? 0 : 2); /* loss, then profit */
        if (push_pair(side, FIELD(pos, POS.loss_level), pos_id) < 0 ||
            push_pair(side + 1, take_profit, pos_id) < 0)
            goto done;
    } else {
        PyErr_Format(PyExc_ValueError, "open position on asset %R that this engine lacks", asset);
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(liquidation);
    Py_XDECREF(stop_loss);
    Py_XDECREF(take_profit);
    Py_XDECREF(pos);
    return rc;
}

/* load_positions(columns, accounts, names, slots, indexes, positions, trades): what
 * snapshot._load_positions needs done a million times, in C. `columns` is the snapshot's
 * position columns in the order of the enum above; `slots[asset_row]` is the position in
 * `indexes` (TriggerIndex objects) of that asset's index, or -1. Every index in `indexes` is
 * rebuilt from the loaded positions in one sort per level list. */
PyObject *load_positions(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *columns, *accounts, *names, *slots, *indexes, *positions, *trades;
    if (!S.ready) {
        PyErr_SetString(PyExc_RuntimeError, "call configure() before load_positions()");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!:load_positions", &PyTuple_Type, &columns,
                          &PyList_Type, &accounts, &PyList_Type, &names, &PyList_Type, &slots,
                          &PyList_Type, &indexes, &PyDict_Type, &positions, &PyDict_Type, &trades))
        return NULL;
    if (PyTuple_GET_SIZE(columns) != COLUMNS) {
        PyErr_Format(PyExc_ValueError, "load_positions needs %d columns", COLUMNS);
        return NULL;
    }
    PyObject *cols[COLUMNS];
    Py_ssize_t rows = -1;
    for (int c = 0; c < COLUMNS; c++) {
        cols[c] = PyTuple_GET_ITEM(columns, c);
        if (!PyList_Check(cols[c])) {
            PyErr_SetString(PyExc_TypeError, "snapshot columns must be lists");
            return NULL;
        }
        if (rows >= 0 && PyList_GET_SIZE(cols[c]) != rows) {
            PyErr_SetString(PyExc_ValueError, "snapshot position columns differ in length");
            return NULL;
        }
        rows = PyList_GET_SIZE(cols[c]);
    }
    Py_ssize_t count = PyList_GET_SIZE(indexes);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (Py_TYPE(PyList_GET_ITEM(indexes, i)) != S.TriggerIndex) {
            PyErr_SetString(PyExc_TypeError, "indexes must hold TriggerIndex objects");
            return NULL;
        }
    }
    PairBuffer *buffers = PyMem_Calloc((size_t)(4 * count + 1), sizeof(PairBuffer));
    if (buffers == NULL) return PyErr_NoMemory();
    int failed = 0;
    for (Py_ssize_t row = 0; row < rows && !failed; row++)
        failed = load_row(cols, row, accounts, names, slots, positions, trades, buffers, count) < 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *index = PyList_GET_ITEM(indexes, i);
        for (int k = 0; k < 4; k++) { /* long loss, long profit, short loss, short profit */
            PairBuffer *buffer = buffers + 4 * i + k;
            Py_ssize_t offset = k == 0 ? TI.long_loss : k == 1 ? TI.long_profit
                              : k == 2 ? TI.short_loss : TI.short_profit;
            /* level_index_assign takes the buffer whatever happens. */
            if (!failed && level_index_assign(FIELD(index, offset), buffer->pairs, buffer->len) < 0)
                failed = 1;
            else if (failed)
                PyMem_Free(buffer->pairs);
            buffer->pairs = NULL;
        }
    }
    PyMem_Free(buffers);
    if (failed) return NULL;
    Py_RETURN_NONE;
}
