/* AnswerTable: the engine's memory of answered orders, as a CPython type.
 *
 * It maps (user_id, order_id), two exact strs, to an encoded answer (an exact tuple of ints and
 * strs, see codec.py) and keeps, for each user, that user's last `per_user` answers: a put by a
 * user who already holds `per_user` forgets that user's oldest, and nobody else's. So no other
 * user's traffic can push a user's retry protection out (issue 14). The engine asks it about
 * every mutating command, nearly always about a new order id, so a miss is what has to be cheap.
 * With up to millions of entries, every lookup would otherwise be a cache miss.
 *
 * Layout:
 * - An array of entries {user_id, order_id, encoded, hash, links}, dense: an eviction frees a
 *   slot only in a put by the same user, whose new entry takes it at once. It grows by
 *   doubling, and a realloc keeps every position the index and the links point at.
 * - A list through the entries, all of them in insertion order, oldest first, doubly linked
 *   (a user's oldest may sit anywhere in it), which items() follows.
 * - Per user, a record with a ring of the user's entry positions, oldest first: eviction takes
 *   the ring's first, and a put writes only the user's own record, not the entry the user put
 *   before (a list through the entries would cost a cache miss on that entry at every put).
 *   The ring sits in the record up to INLINE_RING positions, then in an array that grows by
 *   doubling up to per_user. Records are never removed: a user keeps at least one answer once
 *   it has one.
 * - An open-addressing index of 64-bit slots over the entries (linear probing, at most half
 *   full, growing by doubling). A slot packs the high 32 bits of the key's hash (its home
 *   position and a tag) and its entry position + 1 (0 is an empty slot). A lookup compares tags
 *   inside the index, and only a tag hit reads the entry (full hash first, then the strs). A
 *   miss usually costs one cache line of the index. Growing the index rehashes from the slots
 *   alone. A deletion shifts the rest of its cluster back instead of leaving a tombstone, so
 *   probes do not get longer as entries come and go.
 * - The user records, in an open-addressing table of their own (linear probing, at most half
 *   full, the records in the slots: one cache line finds a user), keyed by the user id alone.
 *   Only a put reads it; a lookup, which the engine makes before it works on the command,
 *   prefetches the user's home slot so that the put finds it in cache.
 *
 * Hash: the two strs' own hashes (keyed SipHash, cached in each str, so flooding is not a
 * concern) combined by a 64-bit mixer. They vary from process to process, but nothing
 * observable depends on them: iteration follows the insertion list, and a user's list is the
 * user's entries in that order, so putting items() into a fresh table rebuilds the same memory.
 *
 * Not GC-tracked: a table holds only exact strs and tuples of ints and strs (which put untracks),
 * none of which can refer back to it, so it cannot be part of a reference cycle. (A caller that
 * put other objects into an encoded tuple could leak a cycle through it, but could not crash it.)
 *
 * Reentrancy: no Python code runs while a change is halfway done. Hashing and comparing exact
 * strs, PyMem allocations and untracking run none. The references that an eviction releases are
 * released last, once the table is consistent again.
 *
 * Python methods: len(t), key in t, get(key), put(key, encoded), items(), held(user_id);
 * attributes per_user, users.
 */
#include "answers.h"

#include <stdint.h>
#include <string.h>

#define NONE ((int32_t)-1)

typedef struct {
    PyObject *user_id;
    PyObject *order_id;
    PyObject *encoded;
    uint64_t hash;      /* the key's: a tag hit checks it before the strs, removal probes with it */
    int32_t older;      /* the entry put just before this one, NONE for the oldest */
    int32_t newer;      /* the one put just after, NONE for the newest */
} Entry;

/* Positions a user record holds in itself: a record is then one cache line, and most users'
 * rings never need an allocation. */
#define INLINE_RING 8

typedef struct {
    PyObject *user_id;  /* NULL: an empty slot of the users table */
    uint64_t hash;      /* mix64 of the str's hash */
    int32_t count;      /* >= 1: the user's entries are ring[start .. start + count), wrapping */
    int32_t start;
    int32_t cap;        /* grows by doubling up to per_user, so it is per_user when full */
    union {
        int32_t in[INLINE_RING]; /* the ring while cap <= INLINE_RING */
        int32_t *heap;           /* else (PyMem) */
    } ring;
} User;

static inline int32_t *ring_of(User *u) {
    return u->cap <= INLINE_RING ? u->ring.in : u->ring.heap;
}

typedef struct {
    PyObject_HEAD
    Entry *entries;     /* len live ones, positions 0 .. len - 1; room for cap */
    Py_ssize_t cap;
    Py_ssize_t len;
    int32_t oldest;     /* ends of the insertion list */
    int32_t newest;
    uint64_t *slots;    /* mask + 1 index slots over the entries (NULL until the first put) */
    size_t mask;
    User *users;        /* umask + 1 slots holding nusers records (NULL until the first put) */
    Py_ssize_t nusers;
    size_t umask;
    Py_ssize_t per_user;
    uint64_t version;   /* bumped on every change, so an items() iterator notices */
} AnswerTableObject;

#define MIN_CAP 8
#define MIN_SLOTS 8
/* Positions are int32 links; a slot holds a position + 1 in 32 bits, and an index (at most
 * twice its entries, rounded up to a power of two) must be addressable by the 32 hash bits in
 * a slot. */
#define MAX_ENTRIES ((Py_ssize_t)INT32_MAX / 2)
#define MAX_PER_USER ((Py_ssize_t)INT32_MAX)

/* ---- hashing and the indexes ---- */

static inline uint64_t mix64(uint64_t z) {
    /* splitmix64's finalizer: each input bit flips about half of the output bits. */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#ifdef ANSWER_TABLE_TEST_HASH_MASK
/* Hand-made test builds only (no target builds it; compile with
 * -DANSWER_TABLE_TEST_HASH_MASK=0x0000000300000003ULL and run test_answer_table.py): few
 * distinct hashes, so that tag hits on other keys (and users), equal hashes of unequal keys and
 * long clusters happen all the time. With tag bits masked low, homes sit at the start of the
 * index, so a cluster running across its end is not exercised this way. */
#define TEST_MASK(h) ((h) & (uint64_t)(ANSWER_TABLE_TEST_HASH_MASK))
#else
#define TEST_MASK(h) (h)
#endif

/* 0 and the key's hash in *out (and the user's in *user_out, if not NULL), or -1 with an
 * exception set. Exact strs cache their hash, so this reads two fields and mixes, and contains
 * then put hash the same key twice. No cache of the last key: it would have to hold its strs
 * (or trust an address a freed str may reuse) to save this much. */
static inline int key_hash(PyObject *user_id, PyObject *order_id, uint64_t *out,
                           uint64_t *user_out) {
    Py_hash_t u = PyObject_Hash(user_id);
    if (u == -1)
        return -1;
    Py_hash_t o = PyObject_Hash(order_id);
    if (o == -1)
        return -1;
    uint64_t user = mix64((uint64_t)u);
    /* Not symmetric: (a, b) and (b, a) hash apart. */
    *out = TEST_MASK(mix64(user + (uint64_t)o));
    if (user_out)
        *user_out = TEST_MASK(user);
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

/* The entry holding the key, or NULL. */
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
            Entry *e = &self->entries[slot_pos(s)];
            if (e->hash == hash && str_eq(e->user_id, user_id) && str_eq(e->order_id, order_id))
                return e;
        }
    }
}

/* The slot of the users table that holds the user's record, or the empty slot where it would
 * go. The table must exist. */
static User *user_slot(const AnswerTableObject *self, PyObject *user_id, uint64_t hash) {
    User *users = self->users;
    size_t mask = self->umask;
    for (size_t i = hash32(hash) & mask;; i = (i + 1) & mask) {
        User *u = &users[i];
        if (!u->user_id || (u->hash == hash && str_eq(u->user_id, user_id)))
            return u; /* at most half full: every probe ends */
    }
}

/* The user's record, or NULL. */
static User *find_user(const AnswerTableObject *self, PyObject *user_id, uint64_t hash) {
    if (self->nusers == 0)
        return NULL;
    User *u = user_slot(self, user_id, hash);
    return u->user_id ? u : NULL;
}

/* Room for one more user: the users table at most half full after it (rehashed into a new
 * one). 0, or -1 with MemoryError and the table unchanged. */
static int grow_users(AnswerTableObject *self) {
    User *old = self->users;
    size_t after = (size_t)self->nusers + 1;
    if (old && 2 * after <= self->umask + 1)
        return 0;
    if (after > (size_t)MAX_ENTRIES) {
        PyErr_NoMemory();
        return -1;
    }
    size_t size = old ? 2 * (self->umask + 1) : MIN_SLOTS;
    while (size < 2 * after)
        size *= 2;
    User *users = PyMem_Calloc(size, sizeof(User));
    if (!users) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = size - 1;
    if (old) {
        for (size_t i = 0; i <= self->umask; i++) {
            if (!old[i].user_id)
                continue;
            size_t j = hash32(old[i].hash) & mask;
            while (users[j].user_id)
                j = (j + 1) & mask;
            users[j] = old[i];
        }
        PyMem_Free(old);
    }
    self->users = users;
    self->umask = mask;
    return 0;
}

/* Place a slot whose key is not in the index yet. */
static void index_insert(uint64_t *slots, size_t mask, uint64_t slot) {
    size_t i = slot_hash(slot) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = slot;
}

/* Remove the slot of entry `pos` (which must be in the index), shifting back the slots after
 * it in its cluster that may move closer to their home. */
static void index_remove(AnswerTableObject *self, Py_ssize_t pos) {
    uint64_t *slots = self->slots;
    size_t mask = self->mask;
    uint64_t want = make_slot(self->entries[pos].hash, pos);
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

/* Room for `after` items in an array of `*cap` items of `size` bytes, by doubling (realloc
 * keeps every position). 0, or -1 with MemoryError and the array unchanged. */
static int grow_array(void **items, Py_ssize_t *cap, Py_ssize_t after, size_t size) {
    if (after <= *cap)
        return 0;
    if (after > MAX_ENTRIES) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t want = *cap ? *cap * 2 : MIN_CAP;
    if (want > MAX_ENTRIES)
        want = MAX_ENTRIES;
    void *grown = PyMem_Realloc(*items, (size_t)want * size);
    if (!grown) {
        PyErr_NoMemory();
        return -1;
    }
    *items = grown;
    *cap = want;
    return 0;
}

/* An index with room for `after` slots at most half full (rehashed from the old slots). 0, or
 * -1 with MemoryError and the index unchanged. */
static int grow_index(uint64_t **slots_io, size_t *mask_io, Py_ssize_t after) {
    uint64_t *old = *slots_io;
    if (old && 2 * (size_t)after <= *mask_io + 1)
        return 0;
    size_t size = old ? 2 * (*mask_io + 1) : MIN_SLOTS;
    while (size < 2 * (size_t)after)
        size *= 2;
    uint64_t *slots = PyMem_Calloc(size, sizeof(uint64_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = size - 1;
    if (old) {
        for (size_t i = 0; i <= *mask_io; i++) {
            if (old[i])
                index_insert(slots, mask, old[i]);
        }
        PyMem_Free(old);
    }
    *slots_io = slots;
    *mask_io = mask;
    return 0;
}

/* Room for one more entry (and one more user if `new_user`). 0, or -1 with MemoryError and
 * the contents unchanged (an array may have grown, which changes nothing observable). */
static int reserve(AnswerTableObject *self, int new_user) {
    if (grow_array((void **)&self->entries, &self->cap, self->len + 1, sizeof(Entry)) < 0 ||
        grow_index(&self->slots, &self->mask, self->len + 1) < 0)
        return -1;
    if (new_user && grow_users(self) < 0)
        return -1;
    return 0;
}

/* Take entry `pos` out of the insertion list. */
static void unlink_entry(AnswerTableObject *self, int32_t pos) {
    Entry *e = &self->entries[pos];
    if (e->older == NONE)
        self->oldest = e->newer;
    else
        self->entries[e->older].newer = e->newer;
    if (e->newer == NONE)
        self->newest = e->older;
    else
        self->entries[e->newer].older = e->older;
}

/* ---- the C interface (answers.h) ---- */

int answer_table_contains(PyObject *table, PyObject *user_id, PyObject *order_id) {
    AnswerTableObject *self = (AnswerTableObject *)table;
    assert(PyObject_TypeCheck(table, &AnswerTableType));
    assert(PyUnicode_CheckExact(user_id) && PyUnicode_CheckExact(order_id));
    if (self->len == 0)
        return 0;
    uint64_t hash, user_hash;
    if (key_hash(user_id, order_id, &hash, &user_hash) < 0)
        return -1;
    /* The engine asks before it works on a command, and remembers its answer after: fetch the
     * line of the user's record now, so that the put does not wait for it. */
    __builtin_prefetch(&self->users[hash32(user_hash) & self->umask], 1);
    return find(self, user_id, order_id, hash) != NULL;
}

int answer_table_put(PyObject *table, PyObject *user_id, PyObject *order_id, PyObject *encoded) {
    AnswerTableObject *self = (AnswerTableObject *)table;
    assert(PyObject_TypeCheck(table, &AnswerTableType));
    assert(PyUnicode_CheckExact(user_id) && PyUnicode_CheckExact(order_id));
    assert(PyTuple_CheckExact(encoded));
    if (self->per_user == 0)
        return 0;
    uint64_t hash, user_hash;
    if (key_hash(user_id, order_id, &hash, &user_hash) < 0)
        return -1;
    if (find(self, user_id, order_id, hash)) {
        PyErr_Format(PyExc_ValueError, "an answer to (%R, %R) is already remembered", user_id,
                     order_id);
        return -1;
    }
    User *user = find_user(self, user_id, user_hash);
    int full = user && user->count == self->per_user;
    int32_t *grown = NULL; /* the user's ring, grown, when it is full below per_user */
    int32_t grown_cap = 0;
    if (!full) {
        if (user && user->count == user->cap) {
            grown_cap = (Py_ssize_t)user->cap * 2 < self->per_user ? user->cap * 2
                                                                   : (int32_t)self->per_user;
            grown = PyMem_Malloc((size_t)grown_cap * sizeof(int32_t));
            if (!grown) {
                PyErr_NoMemory();
                return -1;
            }
        }
        if (reserve(self, user == NULL) < 0) {
            PyMem_Free(grown);
            return -1; /* (growing the users table moves only the records of a new user's put) */
        }
    }
    /* Nothing below can fail. */
    Entry evicted = {NULL, NULL, NULL, 0, NONE, NONE};
    int32_t pos;
    if (full) {
        /* The user's oldest goes, and the new entry takes its place, in the entries and in
         * the user's ring (full, so cap == count): nobody else's answer moves, and the table
         * does not grow. */
        int32_t *ring = ring_of(user);
        pos = ring[user->start];
        index_remove(self, pos);
        unlink_entry(self, pos);
        evicted = self->entries[pos];
        user->start = user->start + 1 == user->cap ? 0 : user->start + 1;
        user->count--;
    } else {
        pos = (int32_t)self->len++;
        if (!user) {
            user = user_slot(self, user_id, user_hash); /* an empty slot */
            user->user_id = Py_NewRef(user_id);
            user->hash = user_hash;
            user->count = user->start = 0;
            user->cap = self->per_user < INLINE_RING ? (int32_t)self->per_user : INLINE_RING;
            self->nusers++;
        } else if (grown) {
            /* Unrolled into the new ring, oldest first. */
            int32_t *ring = ring_of(user);
            for (int32_t i = 0; i < user->count; i++) {
                int32_t at = user->start + i;
                grown[i] = ring[at < user->cap ? at : at - user->cap];
            }
            if (user->cap > INLINE_RING)
                PyMem_Free(user->ring.heap);
            user->ring.heap = grown;
            user->cap = grown_cap;
            user->start = 0;
        }
    }
    Entry *e = &self->entries[pos];
    e->user_id = Py_NewRef(user_id);
    e->order_id = Py_NewRef(order_id);
    e->encoded = Py_NewRef(encoded);
    e->hash = hash;
    e->older = self->newest;
    e->newer = NONE;
    if (self->newest == NONE)
        self->oldest = pos;
    else
        self->entries[self->newest].newer = pos;
    self->newest = pos;
    int32_t at = user->start + user->count;
    ring_of(user)[at < user->cap ? at : at - user->cap] = pos;
    user->count++;
    index_insert(self->slots, self->mask, make_slot(hash, pos));
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
    if (key_hash(user_id, order_id, &hash, NULL) < 0)
        return NULL;
    Entry *e = find(self, user_id, order_id, hash);
    if (!e)
        Py_RETURN_NONE;
    return Py_NewRef(e->encoded);
}

static PyObject *AnswerTable_held(PyObject *op, PyObject *user_id) {
    AnswerTableObject *self = (AnswerTableObject *)op;
    if (!PyUnicode_CheckExact(user_id)) {
        PyErr_Format(PyExc_TypeError, "AnswerTable user ids are strs, got %.200R", user_id);
        return NULL;
    }
    if (self->nusers == 0)
        return PyLong_FromLong(0);
    Py_hash_t h = PyObject_Hash(user_id);
    if (h == -1)
        return NULL;
    uint64_t user_hash = TEST_MASK(mix64((uint64_t)h)); /* as key_hash makes it */
    User *user = find_user(self, user_id, user_hash);
    return PyLong_FromLong(user ? user->count : 0);
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

static PyObject *AnswerTable_get_per_user(PyObject *op, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(((AnswerTableObject *)op)->per_user);
}

static PyObject *AnswerTable_get_users(PyObject *op, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(((AnswerTableObject *)op)->nusers);
}

/* ---- type plumbing ---- */

static PyObject *AnswerTable_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"per_user", NULL};
    Py_ssize_t per_user;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:AnswerTable", kwlist, &per_user))
        return NULL;
    if (per_user < 0) {
        PyErr_Format(PyExc_ValueError, "answers kept per user must be >= 0, got %zd", per_user);
        return NULL;
    }
    if (per_user > MAX_PER_USER) {
        PyErr_Format(PyExc_ValueError, "answers kept per user must be <= %zd, got %zd",
                     MAX_PER_USER, per_user);
        return NULL;
    }
    AnswerTableObject *self = (AnswerTableObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    /* tp_alloc zeroed the rest: no entries, no users, no index, nothing held. */
    self->oldest = self->newest = NONE;
    self->per_user = per_user;
    return (PyObject *)self;
}

static void AnswerTable_dealloc(PyObject *op) {
    AnswerTableObject *self = (AnswerTableObject *)op;
    Entry *entries = self->entries;
    User *users = self->users;
    Py_ssize_t len = self->len;
    size_t user_slots = users ? self->umask + 1 : 0;
    PyMem_Free(self->slots);
    self->entries = NULL;
    self->users = NULL;
    self->slots = NULL;
    self->len = self->cap = self->nusers = 0;
    self->oldest = self->newest = NONE;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_DECREF(entries[i].user_id);
        Py_DECREF(entries[i].order_id);
        Py_DECREF(entries[i].encoded);
    }
    for (size_t i = 0; i < user_slots; i++) {
        if (users[i].user_id && users[i].cap > INLINE_RING)
            PyMem_Free(users[i].ring.heap);
        Py_XDECREF(users[i].user_id);
    }
    PyMem_Free(entries);
    PyMem_Free(users);
    Py_TYPE(op)->tp_free(op);
}

static PyMethodDef AnswerTable_methods[] = {
    {"get", AnswerTable_get, METH_O,
     "get(key)\n--\n\nThe answer remembered for `key`, a (user_id, order_id) tuple, or None."},
    {"put", (PyCFunction)(void (*)(void))AnswerTable_put, METH_FASTCALL,
     "put(key, encoded)\n--\n\nRemember `encoded` (a tuple of ints and strs) for `key`, a\n"
     "(user_id, order_id) tuple of strs that must not be remembered yet (ValueError); that\n"
     "user's oldest entry goes once the user holds more than `per_user`. A no-op when\n"
     "`per_user` is 0."},
    {"items", AnswerTable_items, METH_NOARGS,
     "items()\n--\n\nAn iterator of ((user_id, order_id), encoded), oldest first; it raises\n"
     "RuntimeError once the table changes."},
    {"held", AnswerTable_held, METH_O,
     "held(user_id)\n--\n\nHow many answers are remembered for `user_id`."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef AnswerTable_getset[] = {
    {"per_user", AnswerTable_get_per_user, NULL, "How many answers each user keeps at most.",
     NULL},
    {"users", AnswerTable_get_users, NULL, "How many users have answers remembered.", NULL},
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
    .tp_doc = "AnswerTable(per_user)\n--\n\n"
              "Encoded answers by (user_id, order_id), both strs; each user keeps its last\n"
              "`per_user` (>= 0), its oldest forgotten first. Entries in insertion order and\n"
              "per user, beside open-addressing indexes of packed hash tags and positions.",
    .tp_methods = AnswerTable_methods,
    .tp_getset = AnswerTable_getset,
    .tp_new = AnswerTable_new,
};

/* ---- items(): an iterator over the insertion list ---- */

typedef struct {
    PyObject_HEAD
    AnswerTableObject *table; /* NULL once exhausted */
    Py_ssize_t done;          /* entries yielded so far */
    int32_t next;             /* the entry to yield next (valid while the version holds) */
    uint64_t version;         /* the table's when items() was called */
} ItemsObject;

static PyTypeObject ItemsType;

static PyObject *AnswerTable_items(PyObject *op, PyObject *Py_UNUSED(ignored)) {
    ItemsObject *it = PyObject_GC_New(ItemsObject, &ItemsType);
    if (!it)
        return NULL;
    it->table = (AnswerTableObject *)Py_NewRef(op);
    it->done = 0;
    it->next = it->table->oldest;
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
    const Entry *e = &t->entries[it->next];
    it->next = e->newer;
    it->done++;
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
