/* AnswerTable: the engine's memory of answered orders, as a CPython type.
 *
 * It maps (user_id, order_id), two exact strs, to an encoded answer (an exact tuple of ints and
 * strs, see codec.py) and forgets the oldest entry once it holds more than `window`. The engine
 * asks it about every mutating command, nearly always about a new order id, so a miss is what
 * has to be cheap. With up to a million entries, every lookup would otherwise be a cache miss.
 *
 * Layout:
 * - A ring of entries {user_id, order_id, encoded, hash}, oldest first (from `head`). It grows
 *   by doubling up to `window` while nothing has been evicted. So it has never wrapped when it
 *   grows, and a plain realloc keeps every entry where it was. Once full, each put overwrites
 *   the oldest entry.
 * - An open-addressing index of 64-bit slots (linear probing, at most half full, growing by
 *   doubling). A slot packs the high 32 bits of the key's hash (its home position and a tag)
 *   and its ring position + 1 (0 is an empty slot). A lookup compares tags inside the index,
 *   and only a tag hit reads the ring (full hash first, then the strs). A miss usually costs one
 *   cache line of the index. Growing the index rehashes from the slots alone. A deletion
 *   (always of the oldest entry) shifts the rest of its cluster back instead of leaving a
 *   tombstone, so probes do not get longer as entries come and go.
 *
 * Hash: the two strs' own hashes (keyed SipHash, cached in each str, so flooding is not a
 * concern) combined by a 64-bit mixer. They vary from process to process, but nothing
 * observable depends on them: iteration follows the ring.
 *
 * Not GC-tracked: a table holds only exact strs and tuples of ints and strs (which put untracks),
 * none of which can refer back to it, so it cannot be part of a reference cycle. (A caller that
 * put other objects into an encoded tuple could leak a cycle through it, but could not crash it.)
 *
 * Reentrancy: no Python code runs while a change is halfway done. Hashing and comparing exact
 * strs, PyMem allocations and untracking run none. The references that an eviction releases are
 * released last, once the table is consistent again.
 *
 * Python methods: len(t), key in t, get(key), put(key, encoded), items(); attribute window.
 */
#include "answers.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject *user_id;
    PyObject *order_id;
    PyObject *encoded;
    uint64_t hash; /* the key's: a tag hit checks it before the strs, eviction probes with it */
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *ring;        /* cap entries; the live ones are len entries from head, wrapping */
    Py_ssize_t cap;
    Py_ssize_t head;    /* the oldest entry */
    Py_ssize_t len;
    uint64_t *slots;    /* mask + 1 index slots (NULL until the first put) */
    size_t mask;
    Py_ssize_t window;
    uint64_t version;   /* bumped on every change, so an items() iterator notices */
} AnswerTableObject;

#define MIN_RING 8
#define MIN_SLOTS 8
/* A slot holds a ring position + 1 in 32 bits, and the index (at most twice the window,
 * rounded up to a power of two) must be addressable by the 32 hash bits in a slot. */
#define MAX_WINDOW ((Py_ssize_t)INT32_MAX)

/* ---- hashing and the index ---- */

static inline uint64_t mix64(uint64_t z) {
    /* splitmix64's finalizer: each input bit flips about half of the output bits. */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 0 and the key's hash in *out, or -1 with an exception set. Exact strs cache their hash, so
 * this reads two fields and mixes, and contains then put hash the same key twice. No cache of
 * the last key: it would have to hold its strs (or trust an address a freed str may reuse) to
 * save this much. */
static inline int key_hash(PyObject *user_id, PyObject *order_id, uint64_t *out) {
    Py_hash_t u = PyObject_Hash(user_id);
    if (u == -1)
        return -1;
    Py_hash_t o = PyObject_Hash(order_id);
    if (o == -1)
        return -1;
    /* Not symmetric: (a, b) and (b, a) hash apart. */
    uint64_t h = mix64(mix64((uint64_t)u) + (uint64_t)o);
#ifdef ANSWER_TABLE_TEST_HASH_MASK
    /* Hand-made test builds only (no target builds it; compile with
     * -DANSWER_TABLE_TEST_HASH_MASK=0x0000000300000003ULL and run test_answer_table.py):
     * few distinct hashes, so that tag hits on other keys, equal hashes of unequal keys and
     * long clusters happen all the time. With tag bits masked low, homes sit at the start of
     * the index, so a cluster running across its end is not exercised this way. */
    h &= (uint64_t)(ANSWER_TABLE_TEST_HASH_MASK);
#endif
    *out = h;
    return 0;
}

static inline uint32_t hash32(uint64_t hash) {
    return (uint32_t)(hash >> 32);
}

static inline uint64_t make_slot(uint64_t hash, Py_ssize_t pos) {
    return ((uint64_t)hash32(hash) << 32) | (uint64_t)(pos + 1);
}

static inline uint32_t slot_hash(uint64_t slot) {
    return (uint32_t)(slot >> 32);
}

static inline Py_ssize_t slot_pos(uint64_t slot) {
    return (Py_ssize_t)(uint32_t)slot - 1;
}

/* Equality of two exact strs: a str is stored in its narrowest kind, so equal strs have the
 * same kind and length and the same bytes. Runs no Python code. */
static inline int str_eq(PyObject *a, PyObject *b) {
    if (a == b)
        return 1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b))
        return 0;
    unsigned int kind = PyUnicode_KIND(a);
    if (kind != PyUnicode_KIND(b))
        return 0;
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * kind) == 0;
}

/* The ring entry holding the key, or NULL. */
static Entry *find(const AnswerTableObject *self, PyObject *user_id, PyObject *order_id,
                   uint64_t hash) {
    if (self->len == 0)
        return NULL;
    const uint64_t *slots = self->slots;
    size_t mask = self->mask;
    uint32_t tag = hash32(hash);
    for (size_t i = tag & mask;; i = (i + 1) & mask) {
        uint64_t s = slots[i];
        if (s == 0)
            return NULL; /* at most half full: every probe ends */
        if (slot_hash(s) == tag) {
            Entry *e = &self->ring[slot_pos(s)];
            if (e->hash == hash && str_eq(e->user_id, user_id) && str_eq(e->order_id, order_id))
                return e;
        }
    }
}

/* Place a slot whose key is not in the index yet. */
static void index_insert(uint64_t *slots, size_t mask, uint64_t slot) {
    size_t i = slot_hash(slot) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = slot;
}

/* Remove the slot of ring entry `pos` (which must be in the index), shifting back the slots
 * after it in its cluster that may move closer to their home. */
static void index_remove(AnswerTableObject *self, Py_ssize_t pos) {
    uint64_t *slots = self->slots;
    size_t mask = self->mask;
    uint64_t want = make_slot(self->ring[pos].hash, pos);
    size_t hole = slot_hash(want) & mask;
    while (slots[hole] != want)
        hole = (hole + 1) & mask;
    for (size_t j = (hole + 1) & mask; slots[j]; j = (j + 1) & mask) {
        size_t home = slot_hash(slots[j]) & mask;
        /* The slot at j may fill the hole unless its home lies cyclically in (hole, j]. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            slots[hole] = slots[j];
            hole = j;
        }
    }
    slots[hole] = 0;
}

/* Room for one more entry in the ring and the index (none is needed in the ring when the put
 * will evict). 0, or -1 with MemoryError and the contents unchanged. */
static int reserve(AnswerTableObject *self) {
    if (self->len == self->cap && self->cap < self->window) {
        /* Nothing has been evicted yet (that needs len == window == cap), so the ring has
         * never wrapped: head is 0 and realloc keeps every position the index points at. */
        assert(self->head == 0);
        Py_ssize_t cap = MIN_RING;
        if (self->cap)
            cap = self->cap <= self->window / 2 ? self->cap * 2 : self->window;
        if (cap > self->window)
            cap = self->window;
        if ((size_t)cap > (size_t)PY_SSIZE_T_MAX / sizeof(Entry)) {
            PyErr_NoMemory();
            return -1;
        }
        Entry *ring = PyMem_Realloc(self->ring, (size_t)cap * sizeof(Entry));
        if (!ring) {
            PyErr_NoMemory();
            return -1;
        }
        self->ring = ring;
        self->cap = cap;
    }
    size_t after = (size_t)(self->len < self->window ? self->len + 1 : self->len);
    if (self->slots && 2 * after <= self->mask + 1)
        return 0;
    size_t size = self->slots ? 2 * (self->mask + 1) : MIN_SLOTS;
    while (size < 2 * after)
        size *= 2;
    if (size > (size_t)PY_SSIZE_T_MAX / sizeof(uint64_t)) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t *slots = PyMem_Calloc(size, sizeof(uint64_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = size - 1;
    if (self->slots) {
        for (size_t i = 0; i <= self->mask; i++) {
            if (self->slots[i])
                index_insert(slots, mask, self->slots[i]);
        }
        PyMem_Free(self->slots);
    }
    self->slots = slots;
    self->mask = mask;
    return 0;
}

/* ---- the C interface (answers.h) ---- */

int answer_table_contains(PyObject *table, PyObject *user_id, PyObject *order_id) {
    AnswerTableObject *self = (AnswerTableObject *)table;
    assert(PyObject_TypeCheck(table, &AnswerTableType));
    assert(PyUnicode_CheckExact(user_id) && PyUnicode_CheckExact(order_id));
    if (self->len == 0)
        return 0;
    uint64_t hash;
    if (key_hash(user_id, order_id, &hash) < 0)
        return -1;
    return find(self, user_id, order_id, hash) != NULL;
}

int answer_table_put(PyObject *table, PyObject *user_id, PyObject *order_id, PyObject *encoded) {
    AnswerTableObject *self = (AnswerTableObject *)table;
    assert(PyObject_TypeCheck(table, &AnswerTableType));
    assert(PyUnicode_CheckExact(user_id) && PyUnicode_CheckExact(order_id));
    assert(PyTuple_CheckExact(encoded));
    if (self->window == 0)
        return 0;
    uint64_t hash;
    if (key_hash(user_id, order_id, &hash) < 0)
        return -1;
    if (find(self, user_id, order_id, hash)) {
        PyErr_Format(PyExc_ValueError, "an answer to (%R, %R) is already remembered", user_id,
                     order_id);
        return -1;
    }
    if (reserve(self) < 0)
        return -1;
    /* Nothing below can fail. */
    Entry evicted = {NULL, NULL, NULL, 0};
    if (self->len == self->window) {
        /* Full (so cap == window): the new entry takes the oldest one's place in the ring. */
        index_remove(self, self->head);
        evicted = self->ring[self->head];
        self->head = self->head + 1 == self->cap ? 0 : self->head + 1;
        self->len--;
    }
    Py_ssize_t pos = self->head + self->len;
    if (pos >= self->cap)
        pos -= self->cap;
    Entry *e = &self->ring[pos];
    e->user_id = Py_NewRef(user_id);
    e->order_id = Py_NewRef(order_id);
    e->encoded = Py_NewRef(encoded);
    e->hash = hash;
    index_insert(self->slots, self->mask, make_slot(hash, pos));
    self->len++;
    self->version++;
    /* It holds ints and strs only: the collector would untrack it on its first pass over it,
     * and with it untracked now, a million answers never cost a collection a visit. */
    PyObject_GC_UnTrack(encoded);
    /* Last: releasing may free objects, and the table is consistent by now. */
    Py_XDECREF(evicted.user_id);
    Py_XDECREF(evicted.order_id);
    Py_XDECREF(evicted.encoded);
    return 0;
}

/* ---- Python methods ---- */

/* A key's two strs, borrowed from `key`: 0, or -1 with TypeError for anything but a 2-tuple
 * of exact strs. Membership raises too, rather than answering "not remembered": the engine
 * asks before it changes anything, so a bad id fails there, not halfway through a command
 * whose answer could then not be remembered. */
static int read_key(PyObject *key, PyObject **user_id, PyObject **order_id) {
    if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 2 ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(key, 0)) ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(key, 1))) {
        PyErr_Format(PyExc_TypeError,
                     "AnswerTable keys are (user_id, order_id) tuples of two strs, got %.200R",
                     key);
        return -1;
    }
    *user_id = PyTuple_GET_ITEM(key, 0);
    *order_id = PyTuple_GET_ITEM(key, 1);
    return 0;
}

static int AnswerTable_contains(PyObject *op, PyObject *key) {
    PyObject *user_id, *order_id;
    if (read_key(key, &user_id, &order_id) < 0)
        return -1;
    return answer_table_contains(op, user_id, order_id);
}

static PyObject *AnswerTable_get(PyObject *op, PyObject *key) {
    AnswerTableObject *self = (AnswerTableObject *)op;
    PyObject *user_id, *order_id;
    if (read_key(key, &user_id, &order_id) < 0)
        return NULL;
    if (self->len == 0)
        Py_RETURN_NONE;
    uint64_t hash;
    if (key_hash(user_id, order_id, &hash) < 0)
        return NULL;
    Entry *e = find(self, user_id, order_id, hash);
    if (!e)
        Py_RETURN_NONE;
    return Py_NewRef(e->encoded);
}

static PyObject *AnswerTable_put(PyObject *op, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "put() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *user_id, *order_id;
    if (read_key(args[0], &user_id, &order_id) < 0)
        return NULL;
    if (!PyTuple_CheckExact(args[1])) {
        PyErr_Format(PyExc_TypeError, "AnswerTable answers are tuples, got %.200s",
                     Py_TYPE(args[1])->tp_name);
        return NULL;
    }
    if (answer_table_put(op, user_id, order_id, args[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *AnswerTable_items(PyObject *op, PyObject *Py_UNUSED(ignored));

static Py_ssize_t AnswerTable_len(PyObject *op) {
    return ((AnswerTableObject *)op)->len;
}

static PyObject *AnswerTable_get_window(PyObject *op, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(((AnswerTableObject *)op)->window);
}

/* ---- type plumbing ---- */

static PyObject *AnswerTable_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"window", NULL};
    Py_ssize_t window;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:AnswerTable", kwlist, &window))
        return NULL;
    if (window < 0) {
        PyErr_Format(PyExc_ValueError, "idempotency window must be >= 0, got %zd", window);
        return NULL;
    }
    if (window > MAX_WINDOW) {
        PyErr_Format(PyExc_ValueError, "idempotency window must be <= %zd, got %zd", MAX_WINDOW,
                     window);
        return NULL;
    }
    AnswerTableObject *self = (AnswerTableObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    /* tp_alloc zeroed the rest: no ring, no index, nothing held. */
    self->window = window;
    return (PyObject *)self;
}

static void AnswerTable_dealloc(PyObject *op) {
    AnswerTableObject *self = (AnswerTableObject *)op;
    Entry *ring = self->ring;
    Py_ssize_t head = self->head, len = self->len, cap = self->cap;
    PyMem_Free(self->slots);
    self->ring = NULL;
    self->slots = NULL;
    self->len = self->cap = self->head = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Entry *e = &ring[head + i < cap ? head + i : head + i - cap];
        Py_DECREF(e->user_id);
        Py_DECREF(e->order_id);
        Py_DECREF(e->encoded);
    }
    PyMem_Free(ring);
    Py_TYPE(op)->tp_free(op);
}

static PyMethodDef AnswerTable_methods[] = {
    {"get", AnswerTable_get, METH_O,
     "get(key)\n--\n\nThe answer remembered for `key`, a (user_id, order_id) tuple, or None."},
    {"put", (PyCFunction)(void (*)(void))AnswerTable_put, METH_FASTCALL,
     "put(key, encoded)\n--\n\nRemember `encoded` (a tuple of ints and strs) for `key`, a\n"
     "(user_id, order_id) tuple of strs that must not be remembered yet (ValueError); the\n"
     "oldest entry goes once there are more than `window`. A no-op when the window is 0."},
    {"items", AnswerTable_items, METH_NOARGS,
     "items()\n--\n\nAn iterator of ((user_id, order_id), encoded), oldest first; it raises\n"
     "RuntimeError once the table changes."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef AnswerTable_getset[] = {
    {"window", AnswerTable_get_window, NULL, "How many answers are kept at most.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods AnswerTable_as_sequence = {
    .sq_length = AnswerTable_len,
    .sq_contains = AnswerTable_contains,
};

PyTypeObject AnswerTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine_svc.core._native.AnswerTable",
    .tp_basicsize = sizeof(AnswerTableObject),
    .tp_itemsize = 0,
    .tp_dealloc = AnswerTable_dealloc,
    .tp_as_sequence = &AnswerTable_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "AnswerTable(window)\n--\n\n"
              "Encoded answers by (user_id, order_id), both strs; past `window` (>= 0) entries\n"
              "the oldest is forgotten. A ring of entries, oldest first, beside an\n"
              "open-addressing index of packed hash tags and ring positions.",
    .tp_methods = AnswerTable_methods,
    .tp_getset = AnswerTable_getset,
    .tp_new = AnswerTable_new,
};

/* ---- items(): an iterator over the ring ---- */

typedef struct {
    PyObject_HEAD
    AnswerTableObject *table; /* NULL once exhausted */
    Py_ssize_t done;          /* entries yielded so far */
    uint64_t version;         /* the table's when items() was called */
} ItemsObject;

static PyTypeObject ItemsType;

static PyObject *AnswerTable_items(PyObject *op, PyObject *Py_UNUSED(ignored)) {
    ItemsObject *it = PyObject_GC_New(ItemsObject, &ItemsType);
    if (!it)
        return NULL;
    it->table = (AnswerTableObject *)Py_NewRef(op);
    it->done = 0;
    it->version = it->table->version;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static void set_changed(void) {
    PyErr_SetString(PyExc_RuntimeError, "AnswerTable changed during iteration");
}

static PyObject *Items_next(PyObject *op) {
    ItemsObject *it = (ItemsObject *)op;
    AnswerTableObject *t = it->table;
    if (!t)
        return NULL;
    if (t->version != it->version) {
        set_changed(); /* and again on every later call, as a dict's iterator does */
        return NULL;
    }
    if (it->done >= t->len) {
        Py_CLEAR(it->table);
        return NULL;
    }
    /* Allocate first: a new tuple may start a collection, whose finalizers may change the
     * table (or even run this iterator), so look at the table only afterwards. */
    Py_INCREF(t);
    PyObject *key = PyTuple_New(2);
    PyObject *item = key ? PyTuple_New(2) : NULL;
    PyObject *result = NULL;
    if (!item)
        goto done;
    if (t->version != it->version) {
        set_changed();
        goto done;
    }
    if (it->done >= t->len) {
        Py_CLEAR(it->table);
        goto done;
    }
    Py_ssize_t pos = t->head + it->done;
    if (pos >= t->cap)
        pos -= t->cap;
    it->done++;
    const Entry *e = &t->ring[pos];
    PyTuple_SET_ITEM(key, 0, Py_NewRef(e->user_id));
    PyTuple_SET_ITEM(key, 1, Py_NewRef(e->order_id));
    PyTuple_SET_ITEM(item, 0, key);
    PyTuple_SET_ITEM(item, 1, Py_NewRef(e->encoded));
    key = NULL;
    result = item;
    item = NULL;
done:
    Py_XDECREF(key);
    Py_XDECREF(item);
    Py_DECREF(t);
    return result;
}

static PyObject *Items_length_hint(PyObject *op, PyObject *Py_UNUSED(ignored)) {
    ItemsObject *it = (ItemsObject *)op;
    Py_ssize_t left = 0;
    if (it->table && it->table->version == it->version)
        left = it->table->len - it->done;
    return PyLong_FromSsize_t(left);
}

static int Items_traverse(PyObject *op, visitproc visit, void *arg) {
    /* The table itself is not tracked, but a subclass's instance (with a __dict__) may be. */
    Py_VISIT(((ItemsObject *)op)->table);
    return 0;
}

static void Items_dealloc(PyObject *op) {
    PyObject_GC_UnTrack(op);
    Py_XDECREF(((ItemsObject *)op)->table);
    PyObject_GC_Del(op);
}

static PyMethodDef Items_methods[] = {
    {"__length_hint__", Items_length_hint, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ItemsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine_svc.core._native.AnswerTableItems",
    .tp_basicsize = sizeof(ItemsObject),
    .tp_itemsize = 0,
    .tp_dealloc = Items_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = Items_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = Items_next,
    .tp_methods = Items_methods,
};

int answer_table_register(PyObject *module) {
    if (PyType_Ready(&ItemsType) < 0)
        return -1;
    /* Readies the type and adds it under its short name. */
    return PyModule_AddType(module, &AnswerTableType);
}
