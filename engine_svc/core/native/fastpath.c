/* The engine's accepted-command path in C.
 *
 * An accepted CREATE_TRADE or CLOSE_TRADE, and the settlement of what a tick crossed, run
 * here on the engine's own Python objects (accounts, positions, dicts, trigger levels, the
 * order memory), producing the same responses, events and state as `engine.py` does. Anything
 * else (a rejection with its message, a retried order id, a query, numbers too large for
 * 64-bit arithmetic, and the whole trader's toolset of SPEC 3a: pending orders, a trailing
 * stop, a partial close, any trade with an Extension, a command on which a pending order
 * expires) is declined and runs through the Python engine, which stays the one
 * reference: tests/core/test_native.py runs random command and tick streams through both and
 * compares every output and `state_hash()`.
 *
 * Why it is fast: no interpreter frames, fields read and written at their slot offsets, money
 * math in 128-bit integers (exact; inputs are range-checked so products cannot overflow).
 */
#include "fastpath.h"

#include <stdint.h>
#include <string.h>

#include "answers.h"
#include "blake2b.h"
#include "levels.h"
#include "restore.h"
#include "schema.h"

static const int64_t PPM = 1000000;
static const int64_t MIN_LEVERAGE = 10;
static const int64_t MAX_LEVERAGE = 1000;
/* margin * leverage stays below 2^63 and times a price move below 2^127. */
static const int64_t MAX_FAST_MARGIN = (int64_t)1 << 52;

/* ---- small helpers ------------------------------------------------------------------------ */

/* A Python int that fits in int64 (bools excluded: the Python rules would treat them as
 * numbers, but no edge produces one, so they go the reference way). 1 yes, 0 no (no error). */
static int as_i64(PyObject *value, int64_t *out) {
    if (!PyLong_CheckExact(value)) return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

static PyObject *from_i128(__int128 value) {
    if (value >= INT64_MIN && value <= INT64_MAX) return PyLong_FromLongLong((long long)value);
    return _PyLong_FromByteArray((const unsigned char *)&value, sizeof value, 1, 1);
}

static __int128 floor_div(__int128 n, __int128 d) {
    __int128 q = n / d;
    if ((n % d != 0) && ((n < 0) != (d < 0))) q -= 1;
    return q;
}

static PyObject *opt_price(PyObject *value) { return value == Py_None ? S.zero : value; }

/* ---- the FastPath object: one per engine, holding its containers ------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *state;     /* engine.__dict__: seq, event_seq, next_pos_id */
    PyObject *assets, *accounts, *positions, *trades, *prices, *triggers;
    PyObject *answers;   /* the engine's OrderMemory, an AnswerTable */
    PyObject *reference; /* the Python engine's execute, for everything declined here */
    int64_t max_open, maintenance_ppm;
} FastPath;

/* Returned by the try_* functions for "not mine, ask the Python engine". */
static PyObject DECLINED_OBJECT;
#define DECLINED (&DECLINED_OBJECT)

/* Add one to the engine counter `name` (in engine.__dict__, where the Python engine keeps it).
 * Returns the new value as a new reference, the same object the dict now holds, so responses
 * and events share it instead of making their own; NULL with an exception. `before`, if not
 * NULL, gets a new reference to the old value (a position id is the counter before the bump). */
static PyObject *bump(FastPath *self, PyObject *name, PyObject **before) {
    PyObject *current = PyDict_GetItemWithError(self->state, name);
    int64_t v;
    if (current == NULL || !as_i64(current, &v) || v == INT64_MAX) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_RuntimeError, "engine counter %S is missing or too large", name);
        return NULL;
    }
    PyObject *next = PyLong_FromLongLong(v + 1);
    if (next == NULL) return NULL;
    if (before != NULL) *before = Py_NewRef(current);
    if (PyDict_SetItem(self->state, name, next) < 0) {
        if (before != NULL) Py_CLEAR(*before);
        Py_DECREF(next);
        return NULL;
    }
    return next;
}

/* Remember the answer to the command (its key is not remembered yet). The encoded tuple holds
 * strs and ints (ids, the command's email and time, amounts), so it cannot be part of a
 * cycle: the table untracks it, and a million remembered answers never cost the collector. */
static int remember(FastPath *self, PyObject *command, PyObject *encoded) {
    return answer_table_put(self->answers, FIELD(command, CMD.user_id),
                            FIELD(command, CMD.order_id), encoded);
}

/* Outcome(Response(order_id, seq, data, None), [event]); takes a new reference to `seq`. */
static PyObject *new_outcome(PyObject *order_id, PyObject *seq, PyObject *data, PyObject *event) {
    PyObject *response = alloc(S.Response);
    PyObject *outcome = alloc(S.Outcome);
    PyObject *events = PyList_New(1);
    if (!response || !outcome || !events) {
        Py_XDECREF(response);
        Py_XDECREF(outcome);
        Py_XDECREF(events);
        return NULL;
    }
    INIT(response, RESP.order_id, order_id);
    INIT(response, RESP.seq, seq);
    INIT(response, RESP.data, data);
    INIT(response, RESP.rejection, Py_None);
    Py_INCREF(event);
    PyList_SET_ITEM(events, 0, event);
    FIELD(outcome, OUT.response) = response;
    FIELD(outcome, OUT.events) = events;
    return outcome;
}

/* A position's trade view with `status`; the closed-only fields are None (callers set them). */
static PyObject *new_view(PyObject *pos, PyObject *status) {
    PyObject *view = alloc(S.TradeView);
    if (view == NULL) return NULL;
    PyObject *account = FIELD(pos, POS.account);
    INIT(view, TV.trade_id, FIELD(pos, POS.trade_id));
    INIT(view, TV.user_id, FIELD(account, ACC.user_id));
    INIT(view, TV.email, FIELD(account, ACC.email));
    INIT(view, TV.asset, FIELD(pos, POS.asset));
    INIT(view, TV.direction, FIELD(pos, POS.is_long) == Py_True ? S.LONG : S.SHORT);
    INIT(view, TV.margin, FIELD(pos, POS.margin));
    INIT(view, TV.leverage, FIELD(pos, POS.leverage));
    INIT(view, TV.entry_price, FIELD(pos, POS.entry));
    INIT(view, TV.liquidation_price, FIELD(pos, POS.liquidation));
    INIT(view, TV.stop_loss, FIELD(pos, POS.stop_loss));
    INIT(view, TV.take_profit, FIELD(pos, POS.take_profit));
    INIT(view, TV.status, status);
    INIT(view, TV.opened_at_ms, FIELD(pos, POS.opened_at_ms));
    INIT(view, TV.exit_price, Py_None);
    INIT(view, TV.pnl, Py_None);
    INIT(view, TV.total_return, Py_None);
    INIT(view, TV.closed_at_ms, Py_None);
    INIT(view, TV.unrealized_pnl, Py_None);
    /* A plain trade's (the only kind made here): none of SPEC 3a's fields. */
    INIT(view, TV.trailing_distance, Py_None);
    INIT(view, TV.order_type, Py_None);
    INIT(view, TV.order_price, Py_None);
    INIT(view, TV.expires_at_ms, Py_None);
    INIT(view, TV.partial, Py_False);
    INIT(view, TV.reason, Py_None);
    return view;
}

static PyObject *new_event(FastPath *self, PyObject *kind, PyObject *view, PyObject *order_id,
                           PyObject *ts_ms) {
    PyObject *seq_obj = bump(self, S.str_event_seq, NULL);
    if (seq_obj == NULL) return NULL;
    PyObject *event = alloc(S.TradeEvent);
    if (event == NULL) {
        Py_DECREF(seq_obj);
        return NULL;
    }
    FIELD(event, EV.event_seq) = seq_obj;
    INIT(event, EV.kind, kind);
    INIT(event, EV.trade, view);
    INIT(event, EV.order_id, order_id);
    INIT(event, EV.ts_ms, ts_ms);
    return event;
}

/* The encoded answer's first fields after (seq, tag, email), as codec._view_head writes. */
static void encode_head(PyObject *tuple, Py_ssize_t at, PyObject *pos) {
    PyObject *items[10] = {
        FIELD(pos, POS.trade_id),
        FIELD(pos, POS.asset),
        FIELD(pos, POS.is_long) == Py_True ? S.name_LONG : S.name_SHORT,
        FIELD(pos, POS.margin),
        FIELD(pos, POS.leverage),
        FIELD(pos, POS.entry),
        opt_price(FIELD(pos, POS.liquidation)),
        opt_price(FIELD(pos, POS.stop_loss)),
        opt_price(FIELD(pos, POS.take_profit)),
        FIELD(pos, POS.opened_at_ms),
    };
    for (int i = 0; i < 10; i++) {
        Py_INCREF(items[i]);
        PyTuple_SET_ITEM(tuple, at + i, items[i]);
    }
}

/* model.trade_id_for: blake2b-128 of "user\0order\0seq" (seq in decimal; `seq` < 0 leaves
 * "\0seq" out, the rule before trade ids carried their command's seq), UUID-shaped. */
static PyObject *trade_id_for(PyObject *user_id, PyObject *order_id, int64_t seq) {
    Py_ssize_t user_len, order_len;
    const char *user = PyUnicode_AsUTF8AndSize(user_id, &user_len);
    if (user == NULL) return NULL;
    const char *order = PyUnicode_AsUTF8AndSize(order_id, &order_len);
    if (order == NULL) return NULL;
    char seq_text[24];
    int seq_len = seq < 0 ? 0 : snprintf(seq_text, sizeof seq_text, "%lld", (long long)seq);
    size_t len = (size_t)user_len + 1 + (size_t)order_len + (seq < 0 ? 0 : 1 + (size_t)seq_len);
    uint8_t stack[256];
    uint8_t *buffer = len <= sizeof stack ? stack : PyMem_Malloc(len);
    if (buffer == NULL) return PyErr_NoMemory();
    memcpy(buffer, user, (size_t)user_len);
    buffer[user_len] = 0;
    memcpy(buffer + user_len + 1, order, (size_t)order_len);
    if (seq >= 0) {
        buffer[user_len + 1 + order_len] = 0;
        memcpy(buffer + user_len + 2 + order_len, seq_text, (size_t)seq_len);
    }
    uint8_t digest[16];
    blake2b(digest, sizeof digest, buffer, len);
    if (buffer != stack) PyMem_Free(buffer);
    PyObject *text = PyUnicode_New(36, 127);
    if (text == NULL) return NULL;
    static const char hex[] = "0123456789abcdef";
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (int i = 0, j = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[j++] = '-';
        out[j++] = (Py_UCS1)hex[digest[i] >> 4];
        out[j++] = (Py_UCS1)hex[digest[i] & 15];
    }
    return text;
}

/* PnL with negative balance protection (money.capped_pnl), exact. */
static PyObject *capped_pnl(PyObject *pos, PyObject *price_obj) {
    int is_long = FIELD(pos, POS.is_long) == Py_True;
    int64_t margin, leverage, entry, price;
    if (as_i64(FIELD(pos, POS.margin), &margin) && as_i64(FIELD(pos, POS.leverage), &leverage) &&
        as_i64(FIELD(pos, POS.entry), &entry) && as_i64(price_obj, &price) && margin >= 0 &&
        margin < MAX_FAST_MARGIN && leverage >= 0 && leverage <= MAX_LEVERAGE && entry > 0 &&
        price > 0) {
        __int128 move = is_long ? (__int128)price - entry : (__int128)entry - price;
        __int128 value = floor_div((__int128)margin * leverage * move, (__int128)10 * entry);
        if (value < -(__int128)margin) value = -(__int128)margin;
        return from_i128(value);
    }
    return PyObject_CallFunctionObjArgs(S.capped_pnl, is_long ? Py_True : Py_False,
                                        FIELD(pos, POS.margin), FIELD(pos, POS.leverage),
                                        FIELD(pos, POS.entry), price_obj, NULL);
}

/* One of a TriggerIndex's four LevelIndex objects, or NULL with TypeError. */
static PyObject *level_index(PyObject *triggers_of_asset, int is_long, int loss) {
    if (Py_TYPE(triggers_of_asset) != S.TriggerIndex) {
        PyErr_SetString(PyExc_TypeError, "engine.triggers must hold TriggerIndex objects");
        return NULL;
    }
    Py_ssize_t offset = is_long ? (loss ? TI.long_loss : TI.long_profit)
                                : (loss ? TI.short_loss : TI.short_profit);
    PyObject *index = FIELD(triggers_of_asset, offset);
    if (index == NULL || Py_TYPE(index) != &LevelIndexType) {
        PyErr_SetString(PyExc_TypeError, "a TriggerIndex without its LevelIndex lists");
        return NULL;
    }
    return index;
}

/* Where a position's loss (or profit) level sits: its index and values; index NULL: none. */
typedef struct {
    PyObject *index;
    int64_t level, pos_id;
} Entry;

static int find_entry(PyObject *triggers_of_asset, PyObject *pos, int loss, Entry *entry) {
    PyObject *level = FIELD(pos, loss ? POS.loss_level : POS.take_profit);
    entry->index = NULL;
    if (level == Py_None) return 0;
    if (int64_value(level, "a trigger level", &entry->level) < 0 ||
        int64_value(FIELD(pos, POS.pos_id), "a position id", &entry->pos_id) < 0)
        return -1;
    entry->index = level_index(triggers_of_asset, FIELD(pos, POS.is_long) == Py_True, loss);
    return entry->index == NULL ? -1 : 0;
}

static int remove_entry(const Entry *entry) {
    return entry->index ? level_index_remove(entry->index, entry->level, entry->pos_id) : 0;
}

static int remove_level(PyObject *triggers_of_asset, PyObject *pos, int loss) {
    Entry entry;
    return find_entry(triggers_of_asset, pos, loss, &entry) < 0 ? -1 : remove_entry(&entry);
}

static int add_level(PyObject *triggers_of_asset, int is_long, int loss, PyObject *level,
                     int64_t pos_id) {
    if (level == Py_None) return 0;
    int64_t lv;
    if (int64_value(level, "a trigger level", &lv) < 0) return -1;
    PyObject *index = level_index(triggers_of_asset, is_long, loss);
    return index == NULL ? -1 : level_index_add(index, lv, pos_id);
}

/* Settle a position whose trigger entries are already gone and emit its event (engine._close).
 * `pos` must be OPEN. */
static PyObject *close_position(FastPath *self, PyObject *pos, PyObject *price, PyObject *status,
                                PyObject *kind, PyObject *order_id, PyObject *ts_ms) {
    Py_INCREF(pos); /* the dicts below held it */
    PyObject *view = NULL, *event = NULL, *realized = NULL, *total = NULL, *balance = NULL;
    Py_INCREF(status);
    Py_SETREF(FIELD(pos, POS.status), status);
    PyObject *account = FIELD(pos, POS.account);
    realized = capped_pnl(pos, price);
    if (realized == NULL) goto done;
    total = PyNumber_Add(FIELD(pos, POS.margin), realized);
    if (total == NULL) goto done;
    balance = PyNumber_Add(FIELD(account, ACC.balance), total);
    if (balance == NULL) goto done;
    Py_SETREF(FIELD(account, ACC.balance), balance);
    PyObject *pos_id = FIELD(pos, POS.pos_id);
    if (PyDict_DelItem(FIELD(account, ACC.open), pos_id) < 0 ||
        PyDict_DelItem(self->positions, pos_id) < 0 ||
        PyDict_DelItem(self->trades, FIELD(pos, POS.trade_id)) < 0)
        goto done;
    view = new_view(pos, status);
    if (view == NULL) goto done;
    Py_SETREF(FIELD(view, TV.exit_price), Py_NewRef(price));
    Py_SETREF(FIELD(view, TV.pnl), Py_NewRef(realized));
    Py_SETREF(FIELD(view, TV.total_return), Py_NewRef(total));
    Py_SETREF(FIELD(view, TV.closed_at_ms), Py_NewRef(ts_ms));
    event = new_event(self, kind, view, order_id, ts_ms);
done:
    Py_XDECREF(view);
    Py_XDECREF(realized);
    Py_XDECREF(total);
    Py_DECREF(pos);
    return event;
}

/* ---- CREATE_TRADE ------------------------------------------------------------------------- */

static PyObject *try_create(FastPath *self, PyObject *command, PyObject *body,
                            PyObject *account) {
    PyObject *asset = FIELD(body, CT.asset);
    if (!PyUnicode_CheckExact(asset)) return DECLINED;
    PyObject *decimals = PyDict_GetItemWithError(self->assets, asset);
    if (decimals == NULL) return PyErr_Occurred() ? NULL : DECLINED;
    PyObject *direction = FIELD(body, CT.direction);
    int is_long;
    if (direction == S.LONG)
        is_long = 1;
    else if (direction == S.SHORT)
        is_long = 0;
    else
        return DECLINED;
    int64_t leverage, margin, stop_loss = 0, take_profit = 0, bid, ask, balance;
    if (!as_i64(FIELD(body, CT.leverage), &leverage) || leverage < MIN_LEVERAGE ||
        leverage > MAX_LEVERAGE)
        return DECLINED;
    if (!as_i64(FIELD(body, CT.margin), &margin) || margin <= 0 || margin >= MAX_FAST_MARGIN)
        return DECLINED;
    PyObject *sl_obj = FIELD(body, CT.stop_loss), *tp_obj = FIELD(body, CT.take_profit);
    int has_sl = sl_obj != Py_None, has_tp = tp_obj != Py_None;
    if (has_sl && (!as_i64(sl_obj, &stop_loss) || stop_loss <= 0)) return DECLINED;
    if (has_tp && (!as_i64(tp_obj, &take_profit) || take_profit <= 0)) return DECLINED;
    PyObject *quote = PyDict_GetItemWithError(self->prices, asset);
    if (quote == NULL) return PyErr_Occurred() ? NULL : DECLINED;
    if (!PyTuple_CheckExact(quote) || PyTuple_GET_SIZE(quote) != 2) return DECLINED;
    /* Borrowed: nothing runs Python code before the commit below, where they are held. */
    PyObject *bid_obj = PyTuple_GET_ITEM(quote, 0), *ask_obj = PyTuple_GET_ITEM(quote, 1);
    if (!as_i64(bid_obj, &bid) || !as_i64(ask_obj, &ask) || bid <= 0 || ask <= 0)
        return DECLINED;
    PyObject *balance_obj = FIELD(account, ACC.balance);
    if (!as_i64(balance_obj, &balance) || margin > balance) return DECLINED;
    PyObject *open = FIELD(account, ACC.open);
    if (!PyDict_CheckExact(open) || PyDict_GET_SIZE(open) >= self->max_open) return DECLINED;

    int64_t entry = is_long ? ask : bid, mark = is_long ? bid : ask;
    __int128 denominator = (__int128)leverage * PPM;
    int has_liquidation = 1;
    __int128 liquidation;
    if (is_long) {
        liquidation =
            (__int128)entry * (denominator - 10 * PPM + (__int128)self->maintenance_ppm * leverage) /
            denominator;
        has_liquidation = liquidation > 0;
    } else {
        __int128 n =
            (__int128)entry * (denominator + 10 * PPM - (__int128)self->maintenance_ppm * leverage);
        liquidation = (n + denominator - 1) / denominator;
    }
    if (has_liquidation && liquidation > INT64_MAX) return DECLINED; /* rules reject it */
    if (has_liquidation && (is_long ? mark <= liquidation : mark >= liquidation)) return DECLINED;
    if (has_sl && !(is_long ? (stop_loss < bid && (!has_liquidation || stop_loss > liquidation))
                            : (ask < stop_loss && (!has_liquidation || stop_loss < liquidation))))
        return DECLINED;
    if (has_tp && (is_long ? take_profit <= bid : take_profit >= ask)) return DECLINED;

    /* The trade id carries the seq this command is about to take (Engine.new_trade_id). */
    PyObject *seq_now = PyDict_GetItemWithError(self->state, S.str_seq);
    int64_t seq_before;
    if (seq_now == NULL || !as_i64(seq_now, &seq_before) || seq_before == INT64_MAX)
        return PyErr_Occurred() ? NULL : DECLINED;
    PyObject *user_id = FIELD(command, CMD.user_id), *order_id = FIELD(command, CMD.order_id);
    PyObject *trade_id = trade_id_for(user_id, order_id, seq_before + 1);
    if (trade_id == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
        PyErr_Clear(); /* a lone surrogate: the reference path reports it */
        return DECLINED;
    }
    int taken = PyDict_Contains(self->trades, trade_id);
    if (taken != 0) {
        Py_DECREF(trade_id);
        return taken < 0 ? NULL : DECLINED;
    }

    /* Accepted: from here on every step changes state, as the Python engine's would. The
     * allocations below may run a collection (and finalizers): hold what was borrowed. */
    Py_INCREF(quote);
    Py_INCREF(balance_obj);
    PyObject *liquidation_obj = NULL, *pos = NULL, *pos_id_obj = NULL, *new_balance = NULL;
    PyObject *view = NULL, *event = NULL, *opened = NULL, *outcome = NULL, *encoded = NULL;
    PyObject *seq = NULL, *next_pos_id = NULL;
    int64_t pos_id;
    if ((seq = bump(self, S.str_seq, NULL)) == NULL) goto done;
    next_pos_id = bump(self, S.str_next_pos_id, &pos_id_obj);
    if (next_pos_id == NULL || int64_value(pos_id_obj, "a position id", &pos_id) < 0) goto done;
    liquidation_obj = has_liquidation ? from_i128(liquidation) : Py_NewRef(Py_None);
    pos = alloc(S.Position);
    if (!liquidation_obj || !pos) goto done;
    /* A position's only cycle is with its account (account.open), and accounts live as long as
     * their engine, which breaks that cycle when it goes (Engine.__init__'s finalizer). So the
     * collector never needs to visit it; tracked, a million of them made every collection that
     * saw them (and the cache misses it takes to visit each) half of a command's cost. */
    PyObject_GC_UnTrack(pos);
    INIT(pos, POS.pos_id, pos_id_obj);
    INIT(pos, POS.trade_id, trade_id);
    INIT(pos, POS.account, account);
    INIT(pos, POS.asset, asset);
    INIT(pos, POS.is_long, is_long ? Py_True : Py_False);
    INIT(pos, POS.margin, FIELD(body, CT.margin));
    INIT(pos, POS.leverage, FIELD(body, CT.leverage));
    INIT(pos, POS.entry, is_long ? ask_obj : bid_obj);
    INIT(pos, POS.liquidation, liquidation_obj);
    INIT(pos, POS.stop_loss, sl_obj);
    INIT(pos, POS.take_profit, tp_obj);
    INIT(pos, POS.opened_at_ms, FIELD(command, CMD.ts_ms));
    INIT(pos, POS.status, S.OPEN);
    INIT(pos, POS.loss_level, has_sl ? sl_obj : liquidation_obj);
    INIT(pos, POS.ext, Py_None);
    new_balance = PyNumber_Subtract(balance_obj, FIELD(body, CT.margin));
    if (new_balance == NULL) goto done;
    Py_SETREF(FIELD(account, ACC.balance), new_balance);
    if (add_open(open, pos_id_obj, pos) < 0 ||
        PyDict_SetItem(self->positions, pos_id_obj, pos) < 0 ||
        PyDict_SetItem(self->trades, trade_id, pos) < 0)
        goto done;
    PyObject *index = PyDict_GetItemWithError(self->triggers, asset);
    if (index == NULL) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, asset);
        goto done;
    }
    if (add_level(index, is_long, 1, FIELD(pos, POS.loss_level), pos_id) < 0 ||
        add_level(index, is_long, 0, tp_obj, pos_id) < 0)
        goto done;
    view = new_view(pos, S.OPEN);
    if (view == NULL) goto done;
    event = new_event(self, S.EV_OPENED, view, order_id, FIELD(command, CMD.ts_ms));
    opened = alloc(S.TradeOpened);
    if (event == NULL || opened == NULL) goto done;
    INIT(opened, OPENED.email, FIELD(account, ACC.email));
    INIT(opened, OPENED.trade, view);
    outcome = new_outcome(order_id, seq, opened, event);
    encoded = PyTuple_New(13);
    if (outcome == NULL || encoded == NULL) goto done;
    PyTuple_SET_ITEM(encoded, 0, Py_NewRef(seq));
    PyTuple_SET_ITEM(encoded, 1, Py_NewRef(S.tag_O));
    PyTuple_SET_ITEM(encoded, 2, Py_NewRef(FIELD(account, ACC.email)));
    encode_head(encoded, 3, pos);
    if (remember(self, command, encoded) < 0) Py_CLEAR(outcome);
done:
    Py_DECREF(quote);
    Py_DECREF(balance_obj);
    Py_DECREF(trade_id);
    Py_XDECREF(seq);
    Py_XDECREF(next_pos_id);
    Py_XDECREF(liquidation_obj);
    Py_XDECREF(pos_id_obj);
    Py_XDECREF(pos);
    Py_XDECREF(view);
    Py_XDECREF(event);
    Py_XDECREF(opened);
    Py_XDECREF(encoded);
    return outcome;
}

/* ---- CLOSE_TRADE -------------------------------------------------------------------------- */

/* The account comes from the position, not from a lookup in `accounts`: every account is
 * the one `accounts` holds under its user id (only _create_account and snapshot loading make
 * them), so "the command's user owns it" is "the position's account has the command's user id",
 * and the accounts dict, a cache miss or two, is not read. */
static PyObject *try_close(FastPath *self, PyObject *command, PyObject *body) {
    PyObject *pos = PyDict_GetItemWithError(self->trades, FIELD(body, CT_TRADE_ID));
    if (pos == NULL) return PyErr_Occurred() ? NULL : DECLINED;
    if (Py_TYPE(pos) != S.Position || FIELD(pos, POS.status) != S.OPEN) return DECLINED;
    if (FIELD(pos, POS.ext) != Py_None) return DECLINED; /* not a plain trade */
    PyObject *account = FIELD(pos, POS.account);
    if (Py_TYPE(account) != S.Account) return DECLINED;
    PyObject *owner = FIELD(account, ACC.user_id), *user_id = FIELD(command, CMD.user_id);
    if (owner != user_id) {
        if (!PyUnicode_CheckExact(owner)) return DECLINED;
        int same = PyUnicode_Compare(owner, user_id);
        if (same == -1 && PyErr_Occurred()) return NULL;
        if (same != 0) return DECLINED;
    }
    PyObject *asset = FIELD(pos, POS.asset);
    PyObject *quote = PyDict_GetItemWithError(self->prices, asset);
    if (quote == NULL) return PyErr_Occurred() ? NULL : DECLINED;
    if (!PyTuple_CheckExact(quote) || PyTuple_GET_SIZE(quote) != 2) return DECLINED;
    PyObject *index = PyDict_GetItemWithError(self->triggers, asset);
    if (index == NULL) return PyErr_Occurred() ? NULL : DECLINED;
    Entry loss, profit; /* found before anything changes: a bad level changes nothing */
    if (find_entry(index, pos, 1, &loss) < 0 || find_entry(index, pos, 0, &profit) < 0)
        return NULL;

    PyObject *seq = bump(self, S.str_seq, NULL);
    if (seq == NULL) return NULL;
    Py_INCREF(pos);
    PyObject *price = Py_NewRef(PyTuple_GET_ITEM(quote, FIELD(pos, POS.is_long) == Py_True ? 0 : 1));
    PyObject *event = NULL, *closed = NULL, *outcome = NULL, *encoded = NULL;
    if (remove_entry(&loss) < 0 || remove_entry(&profit) < 0) goto done;
    PyObject *order_id = FIELD(command, CMD.order_id);
    event = close_position(self, pos, price, S.CLOSED, S.EV_CLOSED, order_id,
                           FIELD(command, CMD.ts_ms));
    if (event == NULL) goto done;
    PyObject *view = FIELD(event, EV.trade);
    PyObject *total = FIELD(view, TV.total_return);
    closed = alloc(S.TradeClosed);
    if (closed == NULL) goto done;
    INIT(closed, CLOSED.email, FIELD(account, ACC.email));
    INIT(closed, CLOSED.trade, view);
    INIT(closed, CLOSED.margin_returned, total);
    INIT(closed, CLOSED.remaining_margin, S.zero);
    outcome = new_outcome(order_id, seq, closed, event);
    encoded = PyTuple_New(19);
    if (outcome == NULL || encoded == NULL) goto done;
    PyObject *tail[9] = {
        seq, S.tag_C, FIELD(account, ACC.email),
        S.name_CLOSED, price, FIELD(view, TV.pnl), total, FIELD(view, TV.closed_at_ms), total,
    };
    for (int i = 0; i < 3; i++) PyTuple_SET_ITEM(encoded, i, Py_NewRef(tail[i]));
    encode_head(encoded, 3, pos);
    for (int i = 3; i < 9; i++) PyTuple_SET_ITEM(encoded, 10 + i, Py_NewRef(tail[i]));
    if (remember(self, command, encoded) < 0) Py_CLEAR(outcome);
done:
    Py_DECREF(seq);
    Py_DECREF(pos);
    Py_DECREF(price);
    Py_XDECREF(event);
    Py_XDECREF(closed);
    Py_XDECREF(encoded);
    return outcome;
}

/* ---- the FastPath type -------------------------------------------------------------------- */

/* Whether every listed slot of `obj` is set (an object made without __init__ may lack some). */
static int all_set(PyObject *obj, const Py_ssize_t *offsets, int count) {
    for (int i = 0; i < count; i++)
        if (FIELD(obj, offsets[i]) == NULL) return 0;
    return 1;
}

static PyObject *try_execute(FastPath *self, PyObject *command) {
    if (Py_TYPE(command) != S.Command) return DECLINED;
    const Py_ssize_t command_slots[] = {CMD.order_id, CMD.user_id, CMD.email, CMD.ts_ms, CMD.body};
    if (!all_set(command, command_slots, 5)) return DECLINED;
    PyObject *body = FIELD(command, CMD.body);
    int create = Py_TYPE(body) == S.CreateTrade;
    if (!create && Py_TYPE(body) != S.CloseTrade) return DECLINED;
    const Py_ssize_t create_slots[] = {CT.asset,       CT.direction, CT.margin,
                                       CT.leverage,    CT.stop_loss, CT.take_profit,
                                       CT.trailing_distance};
    const Py_ssize_t close_slots[] = {CT_TRADE_ID, CT_CLOSE_MARGIN};
    if (create ? !all_set(body, create_slots, 7) : !all_set(body, close_slots, 2))
        return DECLINED;
    /* A trailing stop or a partial close: SPEC 3a's, the Python engine's. */
    if (FIELD(body, create ? CT.trailing_distance : CT_CLOSE_MARGIN) != Py_None) return DECLINED;
    /* The engine clock moves to the command's time; if that expires a pending order, the
     * Python engine does it all (expiry first). */
    /* A replayed command journaled under the older trade id rule: the Python engine's. */
    PyObject *legacy = PyDict_GetItemWithError(self->state, S.str_legacy_trade_ids);
    if (legacy != Py_False) return legacy == NULL && PyErr_Occurred() ? NULL : DECLINED;
    PyObject *ts_obj = FIELD(command, CMD.ts_ms);
    PyObject *clock_obj = PyDict_GetItemWithError(self->state, S.str_clock);
    PyObject *next_obj = clock_obj ? PyDict_GetItemWithError(self->state, S.str_next_expiry) : NULL;
    if (next_obj == NULL) return PyErr_Occurred() ? NULL : DECLINED;
    int64_t ts, clock, next_expiry;
    if (!as_i64(ts_obj, &ts) || !as_i64(clock_obj, &clock) || !as_i64(next_obj, &next_expiry) ||
        (ts > clock ? ts : clock) >= next_expiry)
        return DECLINED;
    PyObject *user_id = FIELD(command, CMD.user_id), *order_id = FIELD(command, CMD.order_id);
    if (!PyUnicode_CheckExact(user_id) || !PyUnicode_CheckExact(order_id)) return DECLINED;
    PyObject *result = DECLINED;
    int answered = answer_table_contains(self->answers, user_id, order_id);
    if (answered < 0) {
        result = NULL;
    } else if (!answered && !create) {
        result = try_close(self, command, body);
    } else if (!answered) {
        PyObject *account = PyDict_GetItemWithError(self->accounts, user_id);
        if (account != NULL && Py_TYPE(account) != S.Account)
            account = NULL; /* not the engine's own: the reference way */
        if (account != NULL)
            result = try_create(self, command, body, account);
        else if (PyErr_Occurred())
            result = NULL;
    }
    if (result != NULL && result != DECLINED && ts > clock &&
        PyDict_SetItem(self->state, S.str_clock, ts_obj) < 0)
        Py_CLEAR(result);
    return result;
}

static PyObject *FastPath_execute(FastPath *self, PyObject *command) {
    PyObject *result = try_execute(self, command);
    if (result == DECLINED) return PyObject_CallOneArg(self->reference, command);
    return result;
}

/* settle(index, losses, profits, bid, ask, ts_ms) -> events, as Engine._settle. */
static PyObject *FastPath_settle(FastPath *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || Py_TYPE(args[0]) != S.TriggerIndex || !PyList_Check(args[1]) ||
        !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "settle(index: TriggerIndex, losses: list, profits: list, bid, ask, ts_ms)");
        return NULL;
    }
    PyObject *index = args[0], *losses = args[1], *profits = args[2];
    PyObject *bid = args[3], *ask = args[4], *ts_ms = args[5];
    PyObject *events = PyList_New(0);
    if (events == NULL) return NULL;
    for (int profit_side = 0; profit_side < 2; profit_side++) {
        PyObject *ids = profit_side ? profits : losses;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ids); i++) {
            PyObject *pos = PyDict_GetItemWithError(self->positions, PyList_GET_ITEM(ids, i));
            if (pos == NULL) {
                if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, PyList_GET_ITEM(ids, i));
                goto fail;
            }
            if (Py_TYPE(pos) != S.Position || FIELD(pos, POS.status) != S.OPEN) {
                PyErr_Format(S.InvariantError, "trade %S is not open", FIELD(pos, POS.trade_id));
                goto fail;
            }
            /* Its crossed entry is gone already; remove the other one. */
            if (remove_level(index, pos, profit_side) < 0) goto fail;
            PyObject *status, *kind;
            if (profit_side) {
                status = S.TAKE_PROFIT;
                kind = S.EV_TAKE_PROFIT;
            } else if (FIELD(pos, POS.stop_loss) != Py_None) {
                status = S.STOP_LOSS;
                kind = S.EV_STOP_LOSS;
            } else {
                status = S.LIQUIDATED;
                kind = S.EV_LIQUIDATED;
            }
            PyObject *price = FIELD(pos, POS.is_long) == Py_True ? bid : ask;
            PyObject *event = close_position(self, pos, price, status, kind, S.empty, ts_ms);
            if (event == NULL) goto fail;
            int rc = PyList_Append(events, event);
            Py_DECREF(event);
            if (rc < 0) goto fail;
        }
    }
    return events;
fail:
    Py_DECREF(events);
    return NULL;
}

static int FastPath_traverse(FastPath *self, visitproc visit, void *arg) {
    Py_VISIT(self->state);
    Py_VISIT(self->assets);
    Py_VISIT(self->accounts);
    Py_VISIT(self->positions);
    Py_VISIT(self->trades);
    Py_VISIT(self->prices);
    Py_VISIT(self->triggers);
    Py_VISIT(self->answers);
    Py_VISIT(self->reference);
    return 0;
}

static int FastPath_clear(FastPath *self) {
    Py_CLEAR(self->state);
    Py_CLEAR(self->assets);
    Py_CLEAR(self->accounts);
    Py_CLEAR(self->positions);
    Py_CLEAR(self->trades);
    Py_CLEAR(self->prices);
    Py_CLEAR(self->triggers);
    Py_CLEAR(self->answers);
    Py_CLEAR(self->reference);
    return 0;
}

static void FastPath_dealloc(FastPath *self) {
    PyObject_GC_UnTrack(self);
    FastPath_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int FastPath_init(FastPath *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"state",    "assets",    "accounts", "positions",       "trades",
                            "prices",   "triggers",  "answers",  "reference",       "max_open",
                            "maintenance_ppm", NULL};
    PyObject *state, *assets, *accounts, *positions, *trades, *prices, *triggers, *answers,
        *reference;
    long long max_open, maintenance_ppm;
    if (!S.ready) {
        PyErr_SetString(PyExc_RuntimeError, "call configure() before FastPath()");
        return -1;
    }
    if (self->state != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a FastPath serves one engine for its whole life");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!O!O!O!O!O!OLL", names, &PyDict_Type,
                                     &state, &PyDict_Type, &assets, &PyDict_Type, &accounts,
                                     &PyDict_Type, &positions, &PyDict_Type, &trades, &PyDict_Type,
                                     &prices, &PyDict_Type, &triggers, &AnswerTableType, &answers,
                                     &reference, &max_open, &maintenance_ppm))
        return -1;
    if (max_open < 1 || maintenance_ppm < 0 || maintenance_ppm >= PPM) {
        PyErr_SetString(PyExc_ValueError, "max_open or maintenance_ppm out of range");
        return -1;
    }
    FastPath_clear(self);
    self->state = Py_NewRef(state);
    self->assets = Py_NewRef(assets);
    self->accounts = Py_NewRef(accounts);
    self->positions = Py_NewRef(positions);
    self->trades = Py_NewRef(trades);
    self->prices = Py_NewRef(prices);
    self->triggers = Py_NewRef(triggers);
    self->answers = Py_NewRef(answers);
    self->reference = Py_NewRef(reference);
    self->max_open = max_open;
    self->maintenance_ppm = maintenance_ppm;
    return 0;
}

static PyMethodDef FastPath_methods[] = {
    {"execute", (PyCFunction)FastPath_execute, METH_O,
     "execute(command) -> Outcome: accepted creates and closes here, the rest by reference."},
    {"settle", (PyCFunction)(void (*)(void))FastPath_settle, METH_FASTCALL,
     "settle(index, losses, profits, bid, ask, ts_ms) -> events, as Engine._settle."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FastPathType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "engine_svc.core._native.FastPath",
    .tp_basicsize = sizeof(FastPath),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One engine's accepted-command path in C, over that engine's own containers.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FastPath_init,
    .tp_dealloc = (destructor)FastPath_dealloc,
    .tp_traverse = (traverseproc)FastPath_traverse,
    .tp_clear = (inquiry)FastPath_clear,
    .tp_methods = FastPath_methods,
};

static PyObject *trade_id(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    int64_t seq = -1;
    if ((nargs != 2 && nargs != 3) || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) ||
        (nargs == 3 && args[2] != Py_None && (!as_i64(args[2], &seq) || seq < 0))) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError,
                            "trade_id(user_id: str, order_id: str, seq: int >= 0 | None = None)");
        return NULL;
    }
    return trade_id_for(args[0], args[1], seq);
}

PyMethodDef fastpath_functions[] = {
    {"configure", (PyCFunction)(void (*)(void))schema_configure, METH_VARARGS | METH_KEYWORDS,
     "configure(**schema): the core's classes and enum members, once per process."},
    {"load_positions", (PyCFunction)load_positions, METH_VARARGS,
     "load_positions(columns, accounts, names, slots, indexes, positions, trades): restore."},
    {"trade_id", (PyCFunction)(void (*)(void))trade_id, METH_FASTCALL,
     "trade_id(user_id, order_id, seq=None) -> str: model.trade_id_for in C."},
    {NULL, NULL, 0, NULL},
};

int fastpath_register(PyObject *module) {
    if (PyType_Ready(&FastPathType) < 0) return -1;
    Py_INCREF(&FastPathType);
    if (PyModule_AddObject(module, "FastPath", (PyObject *)&FastPathType) < 0) {
        Py_DECREF(&FastPathType);
        return -1;
    }
    return 0;
}
