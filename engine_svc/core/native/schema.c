/* configure(): the core's classes and where their slots live (schema.h). */
#include "schema.h"

#include "structmember.h"

CoreSchema S;
CommandSlots CMD;
CreateTradeSlots CT;
AccountSlots ACC;
PositionSlots POS;
TriggerIndexSlots TI;
TradeViewSlots TV;
TradeEventSlots EV;
TradeOpenedSlots OPENED;
TradeClosedSlots CLOSED;
ResponseSlots RESP;
OutcomeSlots OUT;
Py_ssize_t CT_TRADE_ID, CT_CLOSE_MARGIN;

static int slot(PyTypeObject *type, const char *name, Py_ssize_t *offset) {
    PyObject *descr = PyDict_GetItemString(type->tp_dict, name);
    if (descr == NULL || !PyObject_TypeCheck(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    *offset = member->offset;
    return 0;
}

static int take_type(PyObject *schema, const char *name, PyTypeObject **out) {
    PyObject *value = PyDict_GetItemString(schema, name);
    if (value == NULL || !PyType_Check(value)) {
        PyErr_Format(PyExc_TypeError, "configure() needs the class %s", name);
        return -1;
    }
    Py_INCREF(value);
    *out = (PyTypeObject *)value;
    return 0;
}

static int take_object(PyObject *schema, const char *name, PyObject **out) {
    PyObject *value = PyDict_GetItemString(schema, name);
    if (value == NULL) {
        PyErr_Format(PyExc_TypeError, "configure() needs %s", name);
        return -1;
    }
    Py_INCREF(value);
    *out = value;
    return 0;
}

static int take_value(PyObject *member, PyObject **out) {
    *out = PyObject_GetAttrString(member, "value");
    return *out == NULL ? -1 : 0;
}

#define SLOT(type, field, name) \
    if (slot(S.type, name, &field) < 0) return NULL

PyObject *schema_configure(PyObject *module, PyObject *args, PyObject *schema) {
    (void)module;
    if (PyTuple_GET_SIZE(args) != 0 || schema == NULL) {
        PyErr_SetString(PyExc_TypeError, "configure() takes keyword arguments only");
        return NULL;
    }
    if (S.ready) Py_RETURN_NONE; /* the schema is the core's own classes: set once */
    if (take_type(schema, "Command", &S.Command) < 0 ||
        take_type(schema, "CreateTrade", &S.CreateTrade) < 0 ||
        take_type(schema, "CloseTrade", &S.CloseTrade) < 0 ||
        take_type(schema, "Account", &S.Account) < 0 ||
        take_type(schema, "Position", &S.Position) < 0 ||
        take_type(schema, "TriggerIndex", &S.TriggerIndex) < 0 ||
        take_type(schema, "TradeView", &S.TradeView) < 0 ||
        take_type(schema, "TradeEvent", &S.TradeEvent) < 0 ||
        take_type(schema, "TradeOpened", &S.TradeOpened) < 0 ||
        take_type(schema, "TradeClosed", &S.TradeClosed) < 0 ||
        take_type(schema, "Response", &S.Response) < 0 ||
        take_type(schema, "Outcome", &S.Outcome) < 0 || take_object(schema, "LONG", &S.LONG) < 0 ||
        take_object(schema, "SHORT", &S.SHORT) < 0 || take_object(schema, "OPEN", &S.OPEN) < 0 ||
        take_object(schema, "CLOSED", &S.CLOSED) < 0 ||
        take_object(schema, "LIQUIDATED", &S.LIQUIDATED) < 0 ||
        take_object(schema, "STOP_LOSS", &S.STOP_LOSS) < 0 ||
        take_object(schema, "TAKE_PROFIT", &S.TAKE_PROFIT) < 0 ||
        take_object(schema, "EV_OPENED", &S.EV_OPENED) < 0 ||
        take_object(schema, "EV_CLOSED", &S.EV_CLOSED) < 0 ||
        take_object(schema, "EV_LIQUIDATED", &S.EV_LIQUIDATED) < 0 ||
        take_object(schema, "EV_STOP_LOSS", &S.EV_STOP_LOSS) < 0 ||
        take_object(schema, "EV_TAKE_PROFIT", &S.EV_TAKE_PROFIT) < 0 ||
        take_object(schema, "capped_pnl", &S.capped_pnl) < 0 ||
        take_object(schema, "InvariantError", &S.InvariantError) < 0)
        return NULL;
    if (take_value(S.LONG, &S.name_LONG) < 0 || take_value(S.SHORT, &S.name_SHORT) < 0 ||
        take_value(S.CLOSED, &S.name_CLOSED) < 0)
        return NULL;
    SLOT(Command, CMD.order_id, "order_id");
    SLOT(Command, CMD.user_id, "user_id");
    SLOT(Command, CMD.email, "email");
    SLOT(Command, CMD.ts_ms, "ts_ms");
    SLOT(Command, CMD.body, "body");
    SLOT(CreateTrade, CT.asset, "asset");
    SLOT(CreateTrade, CT.direction, "direction");
    SLOT(CreateTrade, CT.margin, "margin");
    SLOT(CreateTrade, CT.leverage, "leverage");
    SLOT(CreateTrade, CT.stop_loss, "stop_loss");
    SLOT(CreateTrade, CT.take_profit, "take_profit");
    SLOT(CreateTrade, CT.trailing_distance, "trailing_distance");
    SLOT(CloseTrade, CT_TRADE_ID, "trade_id");
    SLOT(CloseTrade, CT_CLOSE_MARGIN, "margin");
    SLOT(Account, ACC.balance, "balance");
    SLOT(Account, ACC.email, "email");
    SLOT(Account, ACC.open, "open");
    SLOT(Account, ACC.user_id, "user_id");
    SLOT(Position, POS.account, "account");
    SLOT(Position, POS.asset, "asset");
    SLOT(Position, POS.entry, "entry");
    SLOT(Position, POS.ext, "ext");
    SLOT(Position, POS.is_long, "is_long");
    SLOT(Position, POS.leverage, "leverage");
    SLOT(Position, POS.liquidation, "liquidation");
    SLOT(Position, POS.loss_level, "loss_level");
    SLOT(Position, POS.margin, "margin");
    SLOT(Position, POS.opened_at_ms, "opened_at_ms");
    SLOT(Position, POS.pos_id, "pos_id");
    SLOT(Position, POS.status, "status");
    SLOT(Position, POS.stop_loss, "stop_loss");
    SLOT(Position, POS.take_profit, "take_profit");
    SLOT(Position, POS.trade_id, "trade_id");
    SLOT(TriggerIndex, TI.long_loss, "long_loss");
    SLOT(TriggerIndex, TI.long_profit, "long_profit");
    SLOT(TriggerIndex, TI.short_loss, "short_loss");
    SLOT(TriggerIndex, TI.short_profit, "short_profit");
    SLOT(TradeView, TV.trade_id, "trade_id");
    SLOT(TradeView, TV.user_id, "user_id");
    SLOT(TradeView, TV.email, "email");
    SLOT(TradeView, TV.asset, "asset");
    SLOT(TradeView, TV.direction, "direction");
    SLOT(TradeView, TV.margin, "margin");
    SLOT(TradeView, TV.leverage, "leverage");
    SLOT(TradeView, TV.entry_price, "entry_price");
    SLOT(TradeView, TV.liquidation_price, "liquidation_price");
    SLOT(TradeView, TV.stop_loss, "stop_loss");
    SLOT(TradeView, TV.take_profit, "take_profit");
    SLOT(TradeView, TV.status, "status");
    SLOT(TradeView, TV.opened_at_ms, "opened_at_ms");
    SLOT(TradeView, TV.exit_price, "exit_price");
    SLOT(TradeView, TV.pnl, "pnl");
    SLOT(TradeView, TV.total_return, "total_return");
    SLOT(TradeView, TV.closed_at_ms, "closed_at_ms");
    SLOT(TradeView, TV.unrealized_pnl, "unrealized_pnl");
    SLOT(TradeView, TV.trailing_distance, "trailing_distance");
    SLOT(TradeView, TV.order_type, "order_type");
    SLOT(TradeView, TV.order_price, "order_price");
    SLOT(TradeView, TV.expires_at_ms, "expires_at_ms");
    SLOT(TradeView, TV.partial, "partial");
    SLOT(TradeView, TV.reason, "reason");
    SLOT(TradeEvent, EV.event_seq, "event_seq");
    SLOT(TradeEvent, EV.kind, "kind");
    SLOT(TradeEvent, EV.trade, "trade");
    SLOT(TradeEvent, EV.order_id, "order_id");
    SLOT(TradeEvent, EV.ts_ms, "ts_ms");
    SLOT(TradeOpened, OPENED.email, "email");
    SLOT(TradeOpened, OPENED.trade, "trade");
    SLOT(TradeClosed, CLOSED.email, "email");
    SLOT(TradeClosed, CLOSED.trade, "trade");
    SLOT(TradeClosed, CLOSED.margin_returned, "margin_returned");
    SLOT(TradeClosed, CLOSED.remaining_margin, "remaining_margin");
    SLOT(Response, RESP.order_id, "order_id");
    SLOT(Response, RESP.seq, "seq");
    SLOT(Response, RESP.data, "data");
    SLOT(Response, RESP.rejection, "rejection");
    SLOT(Outcome, OUT.response, "response");
    SLOT(Outcome, OUT.events, "events");
    S.tag_O = PyUnicode_InternFromString("O");
    S.tag_C = PyUnicode_InternFromString("C");
    S.empty = PyUnicode_InternFromString("");
    S.zero = PyLong_FromLong(0);
    S.str_seq = PyUnicode_InternFromString("seq");
    S.str_event_seq = PyUnicode_InternFromString("event_seq");
    S.str_next_pos_id = PyUnicode_InternFromString("next_pos_id");
    S.str_clock = PyUnicode_InternFromString("clock");
    S.str_next_expiry = PyUnicode_InternFromString("next_expiry");
    S.str_legacy_trade_ids = PyUnicode_InternFromString("legacy_trade_ids");
    if (!S.tag_O || !S.tag_C || !S.empty || !S.zero || !S.str_seq || !S.str_event_seq ||
        !S.str_next_pos_id || !S.str_clock || !S.str_next_expiry || !S.str_legacy_trade_ids)
        return NULL;
    S.ready = 1;
    Py_RETURN_NONE;
}
