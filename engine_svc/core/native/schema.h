/* The core's Python classes as the C paths see them: the classes and enum members that
 * configure() is given once per process, the offsets of their slots, and small helpers that
 * read and fill those objects. Shared by fastpath.c (accepted commands, settlement) and
 * restore.c (a snapshot's positions). */
#ifndef EXCHANGE_SCHEMA_H
#define EXCHANGE_SCHEMA_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define FIELD(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* Set a field of a freshly allocated (all-NULL) object; takes a new reference to `value`. */
#define INIT(obj, offset, value)                   \
    do {                                           \
        PyObject *v_ = (value);                    \
        Py_INCREF(v_);                             \
        FIELD(obj, offset) = v_;                   \
    } while (0)

typedef struct {
    int ready;
    PyTypeObject *Command, *CreateTrade, *CloseTrade, *Account, *Position, *TriggerIndex;
    PyTypeObject *TradeView, *TradeEvent, *TradeOpened, *TradeClosed, *Response, *Outcome;
    PyObject *LONG, *SHORT;                                     /* Direction members */
    PyObject *OPEN, *CLOSED, *LIQUIDATED, *STOP_LOSS, *TAKE_PROFIT; /* TradeStatus */
    PyObject *EV_OPENED, *EV_CLOSED, *EV_LIQUIDATED, *EV_STOP_LOSS, *EV_TAKE_PROFIT;
    PyObject *name_LONG, *name_SHORT, *name_CLOSED; /* their .value strings, as codec writes */
    PyObject *capped_pnl;                           /* the Python rule, for huge numbers */
    PyObject *InvariantError;                       /* model.InvariantError */
    PyObject *tag_O, *tag_C, *empty, *zero;
    PyObject *str_seq, *str_event_seq, *str_next_pos_id, *str_clock, *str_next_expiry;
    PyObject *str_legacy_trade_ids;
} CoreSchema;
extern CoreSchema S;

typedef struct {
    Py_ssize_t order_id, user_id, email, ts_ms, body;
} CommandSlots;
extern CommandSlots CMD;
typedef struct {
    Py_ssize_t asset, direction, margin, leverage, stop_loss, take_profit, trailing_distance;
} CreateTradeSlots;
extern CreateTradeSlots CT;
extern Py_ssize_t CT_TRADE_ID, CT_CLOSE_MARGIN;
typedef struct {
    Py_ssize_t balance, email, open, user_id;
} AccountSlots;
extern AccountSlots ACC;
typedef struct {
    Py_ssize_t account, asset, entry, ext, is_long, leverage, liquidation, loss_level, margin,
        opened_at_ms, pos_id, status, stop_loss, take_profit, trade_id;
} PositionSlots;
extern PositionSlots POS;
typedef struct {
    Py_ssize_t long_loss, long_profit, short_loss, short_profit;
} TriggerIndexSlots;
extern TriggerIndexSlots TI;
typedef struct {
    Py_ssize_t trade_id, user_id, email, asset, direction, margin, leverage, entry_price,
        liquidation_price, stop_loss, take_profit, status, opened_at_ms, exit_price, pnl,
        total_return, closed_at_ms, unrealized_pnl, trailing_distance, order_type, order_price,
        expires_at_ms, partial, reason;
} TradeViewSlots;
extern TradeViewSlots TV;
typedef struct {
    Py_ssize_t event_seq, kind, trade, order_id, ts_ms;
} TradeEventSlots;
extern TradeEventSlots EV;
typedef struct {
    Py_ssize_t email, trade;
} TradeOpenedSlots;
extern TradeOpenedSlots OPENED;
typedef struct {
    Py_ssize_t email, trade, margin_returned, remaining_margin;
} TradeClosedSlots;
extern TradeClosedSlots CLOSED;
typedef struct {
    Py_ssize_t order_id, seq, data, rejection;
} ResponseSlots;
extern ResponseSlots RESP;
typedef struct {
    Py_ssize_t response, events;
} OutcomeSlots;
extern OutcomeSlots OUT;

/* configure(**schema): fills the above from the core's classes; set once per process. */
PyObject *schema_configure(PyObject *module, PyObject *args, PyObject *schema);

static inline PyObject *alloc(PyTypeObject *type) { return type->tp_alloc(type, 0); }

/* Put a position into its account's `open` dict. The dict holds only positions, whose one
 * cycle (back to the account) the engine breaks itself when it goes (Engine.__init__'s
 * finalizer), so it is untracked again after each insert (which tracks it): otherwise a
 * hundred thousand accounts' dicts would pass through every young collection and the next. */
static inline int add_open(PyObject *open, PyObject *pos_id, PyObject *pos) {
    if (!PyDict_CheckExact(open)) {
        PyErr_SetString(PyExc_TypeError, "account.open must be a dict");
        return -1;
    }
    if (PyDict_SetItem(open, pos_id, pos) < 0) return -1;
    if (PyObject_GC_IsTracked(open)) PyObject_GC_UnTrack(open);
    return 0;
}

/* A level or position id as the Python reference stores it: any int (a bool included), as
 * LevelIndex reads it. 0, or -1 with OverflowError, or TypeError naming `what`. */
static inline int int64_value(PyObject *value, const char *what, int64_t *out) {
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int", what);
        return -1;
    }
    *out = PyLong_AsLongLong(value);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

#endif
