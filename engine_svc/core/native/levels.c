/* LevelIndex: a sorted multiset of (level, position id) pairs, as a CPython type.
 *
 * The trigger book keeps one per side and kind (long stop loss, short take profit, ...):
 * a tick pops every pair whose level it crossed, and opening or closing a position adds or
 * removes one pair. Order is (level, id), lexicographic; equal pairs may repeat.
 *
 * Layout: chunked sorted arrays. Each chunk is a malloc'd array of Pair with room for
 * chunk + 1 entries (one over, so an insert never reallocates and a full chunk splits after
 * it); beside the chunk pointers sit their lengths and each chunk's last pair, so finding a
 * chunk is a bisect over one contiguous array. A chunk that grows past `chunk` splits in two;
 * an emptied chunk goes away; a pop cuts whole chunks off one end and trims one.
 *
 * Python methods: len(), rebuild(pairs), absorb(*others), min_level(), max_level(),
 * add(level, pos_id), remove(level, pos_id), pop_from(level), pop_to(level), pairs().
 *
 * Reentrancy: allocating a GC-tracked object (a list, a tuple) may run a collection and so
 * arbitrary finalizers, which could touch this index. So no method reads chunk positions it
 * computed before such an allocation: they re-plan after it, or work from a private copy.
 */
#include "levels.h"

#include <stdlib.h>
#include <string.h>

typedef LevelPair Pair;

typedef struct {
    PyObject_HEAD
    Pair **chunks;      /* nchunks chunks, each with room for chunk + 1 pairs */
    Py_ssize_t *lens;   /* pairs in each chunk, 1..chunk between calls */
    Pair *lasts;        /* each chunk's last pair */
    Py_ssize_t nchunks;
    Py_ssize_t cap;     /* room in chunks, lens and lasts */
    Py_ssize_t len;     /* pairs in all */
    Py_ssize_t chunk;   /* a chunk longer than this splits */
} LevelIndexObject;

#define DEFAULT_CHUNK 1024

static inline int pair_lt(Pair a, Pair b) {
    return a.level < b.level || (a.level == b.level && a.id < b.id);
}

/* First i in [0, n) with p[i] > x, else n. */
static Py_ssize_t bisect_right(const Pair *p, Py_ssize_t n, Pair x) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (pair_lt(x, p[mid]))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* First i in [0, n) with p[i] >= x, else n. */
static Py_ssize_t bisect_left(const Pair *p, Py_ssize_t n, Pair x) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (pair_lt(p[mid], x))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First i with p[i].level >= level (left) or > level (right): the pops look at levels only. */
static Py_ssize_t bisect_level(const Pair *p, Py_ssize_t n, int64_t level, int right) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (p[mid].level < level || (right && p[mid].level == level))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static Pair *new_chunk(Py_ssize_t chunk) {
    return PyMem_Malloc((size_t)(chunk + 1) * sizeof(Pair));
}

static void free_storage(Pair **chunks, Py_ssize_t *lens, Pair *lasts, Py_ssize_t nchunks) {
    for (Py_ssize_t k = 0; k < nchunks; k++)
        PyMem_Free(chunks[k]);
    PyMem_Free(chunks);
    PyMem_Free(lens);
    PyMem_Free(lasts);
}

/* Room for at least `need` chunks in the three side arrays. 0, or -1 with MemoryError (the
 * arrays that did grow stay valid, just larger). */
static int reserve_chunks(LevelIndexObject *self, Py_ssize_t need) {
    if (need <= self->cap)
        return 0;
    Py_ssize_t cap = self->cap ? self->cap : 8;
    while (cap < need)
        cap *= 2;
    Pair **chunks = PyMem_Realloc(self->chunks, (size_t)cap * sizeof(Pair *));
    if (!chunks)
        goto fail;
    self->chunks = chunks;
    Py_ssize_t *lens = PyMem_Realloc(self->lens, (size_t)cap * sizeof(Py_ssize_t));
    if (!lens)
        goto fail;
    self->lens = lens;
    Pair *lasts = PyMem_Realloc(self->lasts, (size_t)cap * sizeof(Pair));
    if (!lasts)
        goto fail;
    self->lasts = lasts;
    self->cap = cap;
    return 0;
fail:
    PyErr_NoMemory();
    return -1;
}

/* ---- the C interface (levels.h) ---- */

int level_index_add(PyObject *index, int64_t level, int64_t pos_id) {
    LevelIndexObject *self = (LevelIndexObject *)index;
    Pair x = {level, pos_id};
    if (self->nchunks == 0) {
        if (reserve_chunks(self, 1) < 0)
            return -1;
        Pair *c = new_chunk(self->chunk);
        if (!c) {
            PyErr_NoMemory();
            return -1;
        }
        c[0] = x;
        self->chunks[0] = c;
        self->lens[0] = 1;
        self->lasts[0] = x;
        self->nchunks = 1;
        self->len = 1;
        return 0;
    }
    /* The first chunk whose last pair is > x, else the last chunk. */
    Py_ssize_t k = bisect_right(self->lasts, self->nchunks, x);
    if (k == self->nchunks)
        k--;
    Py_ssize_t n = self->lens[k];
    /* Allocate the split's new chunk before touching anything, so MemoryError leaves the
     * index as it was. */
    Pair *spare = NULL;
    if (n + 1 > self->chunk) {
        if (reserve_chunks(self, self->nchunks + 1) < 0)
            return -1;
        spare = new_chunk(self->chunk);
        if (!spare) {
            PyErr_NoMemory();
            return -1;
        }
    }
    Pair *c = self->chunks[k];
    Py_ssize_t at = bisect_right(c, n, x);
    memmove(c + at + 1, c + at, (size_t)(n - at) * sizeof(Pair));
    c[at] = x;
    n++;
    self->len++;
    if (!spare) {
        self->lens[k] = n;
        self->lasts[k] = c[n - 1];
        return 0;
    }
    Py_ssize_t half = n / 2;
    memcpy(spare, c + half, (size_t)(n - half) * sizeof(Pair));
    Py_ssize_t tail = self->nchunks - (k + 1);
    memmove(self->chunks + k + 2, self->chunks + k + 1, (size_t)tail * sizeof(Pair *));
    memmove(self->lens + k + 2, self->lens + k + 1, (size_t)tail * sizeof(Py_ssize_t));
    memmove(self->lasts + k + 2, self->lasts + k + 1, (size_t)tail * sizeof(Pair));
    self->chunks[k + 1] = spare;
    self->lens[k + 1] = n - half;
    self->lasts[k + 1] = spare[n - half - 1];
    self->lens[k] = half;
    self->lasts[k] = c[half - 1];
    self->nchunks++;
    return 0;
}

static void set_key_error(int64_t level, int64_t pos_id) {
    /* KeyError((level, pos_id)): the tuple must be one argument, not the args tuple, so
     * build the exception object instead of letting PyErr_SetObject unpack it. */
    PyObject *key = Py_BuildValue("(LL)", (long long)level, (long long)pos_id);
    if (!key)
        return;
    PyObject *exc = PyObject_CallOneArg(PyExc_KeyError, key);
    Py_DECREF(key);
    if (!exc)
        return;
    PyErr_SetObject(PyExc_KeyError, exc);
    Py_DECREF(exc);
}

int level_index_remove(PyObject *index, int64_t level, int64_t pos_id) {
    LevelIndexObject *self = (LevelIndexObject *)index;
    Pair x = {level, pos_id};
    /* The first chunk whose last pair is >= x holds x's first copy, if any. */
    Py_ssize_t k = bisect_left(self->lasts, self->nchunks, x);
    if (k < self->nchunks) {
        Pair *c = self->chunks[k];
        Py_ssize_t n = self->lens[k];
        Py_ssize_t at = bisect_left(c, n, x);
        if (at < n && c[at].level == level && c[at].id == pos_id) {
            memmove(c + at, c + at + 1, (size_t)(n - at - 1) * sizeof(Pair));
            n--;
            self->len--;
            if (n) {
                self->lens[k] = n;
                self->lasts[k] = c[n - 1];
                return 0;
            }
            PyMem_Free(c);
            Py_ssize_t tail = self->nchunks - (k + 1);
            memmove(self->chunks + k, self->chunks + k + 1, (size_t)tail * sizeof(Pair *));
            memmove(self->lens + k, self->lens + k + 1, (size_t)tail * sizeof(Py_ssize_t));
            memmove(self->lasts + k, self->lasts + k + 1, (size_t)tail * sizeof(Pair));
            self->nchunks--;
            return 0;
        }
    }
    set_key_error(level, pos_id);
    return -1;
}

/* ---- Python methods ---- */

static int64_t as_int64(PyObject *o) {
    /* OverflowError outside 64 bits, TypeError for a non-int, as array('q') does. */
    return (int64_t)PyLong_AsLongLong(o);
}

#define FAILED(v) ((v) == -1 && PyErr_Occurred())

/* Sorting: glibc's qsort calls its comparator through a pointer and copies elements
 * generically, which made it most of a 1M-pair rebuild (about 0.26 s on the dev VM). This
 * introsort compares inline and partitions in place, about twice as fast. */

static void sift_down(Pair *a, Py_ssize_t i, Py_ssize_t n) {
    Pair x = a[i];
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pair_lt(a[c], a[c + 1]))
            c++;
        if (!pair_lt(x, a[c]))
            break;
        a[i] = a[c];
        i = c;
    }
    a[i] = x;
}

static void heap_sort(Pair *a, Py_ssize_t n) {
    for (Py_ssize_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (Py_ssize_t end = n - 1; end > 0; end--) {
        Pair t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

static inline void swap_pairs(Pair *x, Pair *y) {
    Pair t = *x;
    *x = *y;
    *y = t;
}

/* Quicksort, recursing into the smaller side (so the stack stays O(log n)), falling back
 * to heapsort when `depth` runs out (so bad pivots stay O(n log n)). */
static void intro_sort(Pair *a, Py_ssize_t n, int depth) {
    while (n > 16) {
        if (depth-- == 0) {
            heap_sort(a, n);
            return;
        }
        /* Median of three: afterwards a[0] <= pivot <= a[n - 1], which bound both scans. */
        Py_ssize_t m = n / 2;
        if (pair_lt(a[m], a[0]))
            swap_pairs(&a[m], &a[0]);
        if (pair_lt(a[n - 1], a[m])) {
            swap_pairs(&a[n - 1], &a[m]);
            if (pair_lt(a[m], a[0]))
                swap_pairs(&a[m], &a[0]);
        }
        Pair pivot = a[m];
        /* Hoare partition: stopping on equal pairs splits runs of equal pairs evenly. */
        Py_ssize_t i = 0, j = n - 1;
        for (;;) {
            do
                i++;
            while (pair_lt(a[i], pivot));
            do
                j--;
            while (pair_lt(pivot, a[j]));
            if (i >= j)
                break;
            swap_pairs(&a[i], &a[j]);
        }
        Py_ssize_t left = j + 1; /* 1 <= left <= n - 1: both sides shrink */
        if (left < n - left) {
            intro_sort(a, left, depth);
            a += left;
            n -= left;
        } else {
            intro_sort(a + left, n - left, depth);
            n = left;
        }
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        Pair x = a[i];
        Py_ssize_t j = i;
        for (; j > 0 && pair_lt(x, a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static void sort_pairs(Pair *a, Py_ssize_t n) {
    int depth = 0;
    for (Py_ssize_t m = n; m > 1; m /= 2)
        depth += 2;
    intro_sort(a, n, depth);
}

/* Read one (level, id) item. 0, or -1 with an exception set. */
static int read_pair(PyObject *item, Pair *out) {
    PyObject *lv, *id;
    PyObject *seq = NULL;
    if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
        lv = PyTuple_GET_ITEM(item, 0);
        id = PyTuple_GET_ITEM(item, 1);
    } else {
        seq = PySequence_Fast(item, "LevelIndex pairs must be (level, pos_id) pairs");
        if (!seq)
            return -1;
        if (PySequence_Fast_GET_SIZE(seq) != 2) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "LevelIndex pairs must be (level, pos_id) pairs");
            return -1;
        }
        lv = PySequence_Fast_GET_ITEM(seq, 0);
        id = PySequence_Fast_GET_ITEM(seq, 1);
    }
    /* Reading an int may run __index__, which may drop the sequence: hold it till done. */
    Py_INCREF(lv);
    Py_INCREF(id);
    Py_XDECREF(seq);
    int rc = 0;
    out->level = as_int64(lv);
    if (FAILED(out->level))
        rc = -1;
    else {
        out->id = as_int64(id);
        if (FAILED(out->id))
            rc = -1;
    }
    Py_DECREF(lv);
    Py_DECREF(id);
    return rc;
}

/* Replace the contents with `pairs`, cut into chunks of size `chunk`. Builds new storage
 * first, so on an error the index is unchanged (and iterating `pairs` may even use it). */
/* Replace the contents with buf[0..n), in any order (sorted here, in place). Takes ownership
 * of `buf` (a PyMem block), whatever the outcome. */
static int assign_pairs(LevelIndexObject *self, Pair *buf, Py_ssize_t n, Py_ssize_t chunk);

static int rebuild_with(LevelIndexObject *self, PyObject *pairs, Py_ssize_t chunk) {
    Pair *buf = NULL;
    Py_ssize_t n = 0;

    PyObject *it = PyObject_GetIter(pairs);
    if (!it)
        return -1;
    Py_ssize_t room = PyObject_LengthHint(pairs, 64);
    if (room < 0)
        goto fail;
    if (room < 16)
        room = 16;
    if ((size_t)room > PY_SSIZE_T_MAX / sizeof(Pair)) {
        PyErr_NoMemory();
        goto fail;
    }
    buf = PyMem_Malloc((size_t)room * sizeof(Pair));
    if (!buf) {
        PyErr_NoMemory();
        goto fail;
    }
    PyObject *item;
    while ((item = PyIter_Next(it))) {
        if (n == room) {
            if ((size_t)room > PY_SSIZE_T_MAX / (2 * sizeof(Pair))) {
                Py_DECREF(item);
                PyErr_NoMemory();
                goto fail;
            }
            Pair *more = PyMem_Realloc(buf, (size_t)room * 2 * sizeof(Pair));
            if (!more) {
                Py_DECREF(item);
                PyErr_NoMemory();
                goto fail;
            }
            buf = more;
            room *= 2;
        }
        int rc = read_pair(item, &buf[n]);
        Py_DECREF(item);
        if (rc < 0)
            goto fail;
        n++;
    }
    if (PyErr_Occurred())
        goto fail;
    Py_CLEAR(it);
    return assign_pairs(self, buf, n, chunk);

fail:
    Py_XDECREF(it);
    PyMem_Free(buf);
    return -1;
}

static int assign_pairs(LevelIndexObject *self, Pair *buf, Py_ssize_t n, Py_ssize_t chunk) {
    Pair **chunks = NULL;
    Py_ssize_t *lens = NULL;
    Pair *lasts = NULL;
    Py_ssize_t nchunks = 0;

    /* Callers often hand over pairs already in order, or in reverse (a snapshot's
     * pairs()): an O(n) look saves the sort then. */
    Py_ssize_t up = 1, down = 1;
    for (Py_ssize_t i = 1; i < n && (up || down); i++) {
        if (pair_lt(buf[i], buf[i - 1]))
            up = 0;
        if (!pair_lt(buf[i], buf[i - 1]))
            down = 0;
    }
    if (!up && down) {
        for (Py_ssize_t i = 0, j = n - 1; i < j; i++, j--) {
            Pair t = buf[i];
            buf[i] = buf[j];
            buf[j] = t;
        }
    } else if (!up) {
        sort_pairs(buf, n);
    }

    Py_ssize_t step = chunk / 2 > 0 ? chunk / 2 : 1;
    Py_ssize_t want = (n + step - 1) / step;
    Py_ssize_t cap = want > 8 ? want : 8;
    chunks = PyMem_Malloc((size_t)cap * sizeof(Pair *));
    lens = PyMem_Malloc((size_t)cap * sizeof(Py_ssize_t));
    lasts = PyMem_Malloc((size_t)cap * sizeof(Pair));
    if (!chunks || !lens || !lasts) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t start = 0; start < n; start += step) {
        Py_ssize_t m = n - start < step ? n - start : step;
        Pair *c = new_chunk(chunk);
        if (!c) {
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(c, buf + start, (size_t)m * sizeof(Pair));
        chunks[nchunks] = c;
        lens[nchunks] = m;
        lasts[nchunks] = c[m - 1];
        nchunks++;
    }
    PyMem_Free(buf);

    free_storage(self->chunks, self->lens, self->lasts, self->nchunks);
    self->chunks = chunks;
    self->lens = lens;
    self->lasts = lasts;
    self->nchunks = nchunks;
    self->cap = cap;
    self->len = n;
    self->chunk = chunk;
    return 0;

fail:
    PyMem_Free(buf);
    free_storage(chunks, lens, lasts, nchunks);
    return -1;
}

int level_index_assign(PyObject *index, LevelPair *pairs, Py_ssize_t n) {
    if (!PyObject_TypeCheck(index, &LevelIndexType)) {
        PyMem_Free(pairs);
        PyErr_SetString(PyExc_TypeError, "not a LevelIndex");
        return -1;
    }
    LevelIndexObject *self = (LevelIndexObject *)index;
    return assign_pairs(self, pairs, n, self->chunk);
}

static PyObject *LevelIndex_rebuild(PyObject *op, PyObject *pairs) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    if (rebuild_with(self, pairs, self->chunk) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* absorb(*others): move every pair of the other indexes into this one, rebuilt once (a sort
 * in C), and leave them empty. What merging big trailing-stop groups needs: through pairs()
 * and add() it would make and read a tuple per pair. */
static PyObject *LevelIndex_absorb(PyObject *op, PyObject *const *args, Py_ssize_t nargs) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    Py_ssize_t n = self->len;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (!PyObject_TypeCheck(args[i], &LevelIndexType) || args[i] == op) {
            PyErr_SetString(PyExc_TypeError, "absorb() takes other LevelIndex objects");
            return NULL;
        }
        for (Py_ssize_t j = 0; j < i; j++) {
            if (args[j] == args[i]) {
                PyErr_SetString(PyExc_ValueError, "absorb() takes each index once");
                return NULL;
            }
        }
        n += ((LevelIndexObject *)args[i])->len;
    }
    Pair *all = PyMem_Malloc(n ? (size_t)n * sizeof(Pair) : 1);
    if (!all)
        return PyErr_NoMemory();
    Py_ssize_t at = 0;
    for (Py_ssize_t i = -1; i < nargs; i++) {
        LevelIndexObject *from = i < 0 ? self : (LevelIndexObject *)args[i];
        for (Py_ssize_t k = 0; k < from->nchunks; k++) {
            memcpy(all + at, from->chunks[k], (size_t)from->lens[k] * sizeof(Pair));
            at += from->lens[k];
        }
    }
    /* assign_pairs takes the buffer whatever happens. */
    if (assign_pairs(self, all, n, self->chunk) < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        LevelIndexObject *other = (LevelIndexObject *)args[i];
        Pair *none = PyMem_Malloc(1);
        if (!none)
            return PyErr_NoMemory();
        if (assign_pairs(other, none, 0, other->chunk) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *LevelIndex_min_level(PyObject *op, PyObject *Py_UNUSED(ignored)) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    if (!self->nchunks)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(self->chunks[0][0].level);
}

static PyObject *LevelIndex_max_level(PyObject *op, PyObject *Py_UNUSED(ignored)) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    if (!self->nchunks)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(self->lasts[self->nchunks - 1].level);
}

/* (level, pos_id) from a fast call's arguments. 0, or -1 with an exception set. */
static int two_ints(const char *name, PyObject *const *args, Py_ssize_t nargs, Pair *out) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 2 arguments (%zd given)", name, nargs);
        return -1;
    }
    out->level = as_int64(args[0]);
    if (FAILED(out->level))
        return -1;
    out->id = as_int64(args[1]);
    if (FAILED(out->id))
        return -1;
    return 0;
}

static PyObject *LevelIndex_add(PyObject *op, PyObject *const *args, Py_ssize_t nargs) {
    Pair x;
    if (two_ints("add", args, nargs, &x) < 0 || level_index_add(op, x.level, x.id) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *LevelIndex_remove(PyObject *op, PyObject *const *args, Py_ssize_t nargs) {
    Pair x;
    if (two_ints("remove", args, nargs, &x) < 0 || level_index_remove(op, x.level, x.id) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* What a pop takes: from chunk `k`, index `i`, to the end (pop_from), or chunks [0, k) and
 * chunk k's first `i` pairs (pop_to); `count` pairs in all. */
typedef struct {
    Py_ssize_t k, i, count;
} Cut;

static Cut plan_from(const LevelIndexObject *self, int64_t level) {
    Cut cut = {0, 0, 0};
    cut.k = bisect_level(self->lasts, self->nchunks, level, 0);
    if (cut.k == self->nchunks)
        return cut;
    cut.i = bisect_level(self->chunks[cut.k], self->lens[cut.k], level, 0);
    cut.count = self->lens[cut.k] - cut.i;
    for (Py_ssize_t k = cut.k + 1; k < self->nchunks; k++)
        cut.count += self->lens[k];
    return cut;
}

static Cut plan_to(const LevelIndexObject *self, int64_t level) {
    Cut cut = {0, 0, 0};
    cut.k = bisect_level(self->lasts, self->nchunks, level, 1);
    for (Py_ssize_t k = 0; k < cut.k; k++)
        cut.count += self->lens[k];
    if (cut.k < self->nchunks) {
        cut.i = bisect_level(self->chunks[cut.k], self->lens[cut.k], level, 1);
        cut.count += cut.i;
    }
    return cut;
}

/* A list of `count` slots, planned again after its allocation (which may run finalizers
 * that change the index) until the plan holds. NULL with an exception set. */
typedef Cut (*Planner)(const LevelIndexObject *, int64_t);

static PyObject *list_for(LevelIndexObject *self, int64_t level, Planner plan, Cut *cut) {
    for (;;) {
        *cut = plan(self, level);
        PyObject *list = PyList_New(cut->count);
        if (!list)
            return NULL;
        Cut again = plan(self, level);
        if (again.k == cut->k && again.i == cut->i && again.count == cut->count)
            return list;
        Py_DECREF(list);
    }
}

static PyObject *LevelIndex_pop_from(PyObject *op, PyObject *arg) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    int64_t level = as_int64(arg);
    if (FAILED(level))
        return NULL;
    Cut cut;
    PyObject *list = list_for(self, level, plan_from, &cut);
    if (!list || cut.count == 0)
        return list;
    /* Fill first (ints are not GC-tracked, so no Python code runs), cut after: a
     * MemoryError leaves the index whole. Highest pair first. */
    Py_ssize_t out = 0;
    for (Py_ssize_t k = self->nchunks - 1; k >= cut.k; k--) {
        const Pair *c = self->chunks[k];
        Py_ssize_t lo = k == cut.k ? cut.i : 0;
        for (Py_ssize_t j = self->lens[k] - 1; j >= lo; j--) {
            PyObject *v = PyLong_FromLongLong(c[j].id);
            if (!v) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, out++, v);
        }
    }
    Py_ssize_t keep = cut.k;
    if (cut.i) {
        self->lens[keep] = cut.i;
        self->lasts[keep] = self->chunks[keep][cut.i - 1];
        keep++;
    }
    for (Py_ssize_t k = keep; k < self->nchunks; k++)
        PyMem_Free(self->chunks[k]);
    self->nchunks = keep;
    self->len -= cut.count;
    return list;
}

static PyObject *LevelIndex_pop_to(PyObject *op, PyObject *arg) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    int64_t level = as_int64(arg);
    if (FAILED(level))
        return NULL;
    Cut cut;
    PyObject *list = list_for(self, level, plan_to, &cut);
    if (!list || cut.count == 0)
        return list;
    /* Lowest pair first; fill before cutting, as in pop_from. */
    Py_ssize_t out = 0;
    for (Py_ssize_t k = 0; k <= cut.k && k < self->nchunks; k++) {
        const Pair *c = self->chunks[k];
        Py_ssize_t hi = k == cut.k ? cut.i : self->lens[k];
        for (Py_ssize_t j = 0; j < hi; j++) {
            PyObject *v = PyLong_FromLongLong(c[j].id);
            if (!v) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, out++, v);
        }
    }
    if (cut.k < self->nchunks && cut.i) {
        /* This chunk ends above `level`, so it keeps its last pair and its entry in lasts. */
        Pair *c = self->chunks[cut.k];
        self->lens[cut.k] -= cut.i;
        memmove(c, c + cut.i, (size_t)self->lens[cut.k] * sizeof(Pair));
    }
    for (Py_ssize_t k = 0; k < cut.k; k++)
        PyMem_Free(self->chunks[k]);
    Py_ssize_t tail = self->nchunks - cut.k;
    memmove(self->chunks, self->chunks + cut.k, (size_t)tail * sizeof(Pair *));
    memmove(self->lens, self->lens + cut.k, (size_t)tail * sizeof(Py_ssize_t));
    memmove(self->lasts, self->lasts + cut.k, (size_t)tail * sizeof(Pair));
    self->nchunks = tail;
    self->len -= cut.count;
    return list;
}

static PyObject *LevelIndex_pairs(PyObject *op, PyObject *Py_UNUSED(ignored)) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    /* Copy first: making tuples may run finalizers that change the index. */
    Py_ssize_t n = self->len;
    Pair *copy = PyMem_Malloc(n ? (size_t)n * sizeof(Pair) : 1);
    if (!copy)
        return PyErr_NoMemory();
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < self->nchunks; k++) {
        memcpy(copy + at, self->chunks[k], (size_t)self->lens[k] * sizeof(Pair));
        at += self->lens[k];
    }
    PyObject *list = PyList_New(n);
    if (!list)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = Py_BuildValue("(LL)", (long long)copy[i].level, (long long)copy[i].id);
        if (!t) {
            Py_CLEAR(list);
            goto done;
        }
        PyList_SET_ITEM(list, i, t);
    }
done:
    PyMem_Free(copy);
    return list;
}

/* ---- type plumbing ---- */

static PyObject *LevelIndex_new(PyTypeObject *type, PyObject *Py_UNUSED(args),
                                PyObject *Py_UNUSED(kwds)) {
    LevelIndexObject *self = (LevelIndexObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->chunks = NULL;
    self->lens = NULL;
    self->lasts = NULL;
    self->nchunks = self->cap = self->len = 0;
    self->chunk = DEFAULT_CHUNK; /* usable even if __init__ never runs */
    return (PyObject *)self;
}

static int LevelIndex_init(PyObject *op, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"pairs", "chunk", NULL};
    PyObject *pairs = NULL;
    Py_ssize_t chunk = DEFAULT_CHUNK;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|On:LevelIndex", kwlist, &pairs, &chunk))
        return -1;
    if (chunk < 2) {
        PyErr_SetString(PyExc_ValueError, "LevelIndex chunk must be >= 2");
        return -1;
    }
    if ((size_t)chunk >= PY_SSIZE_T_MAX / sizeof(Pair)) {
        PyErr_SetString(PyExc_ValueError, "LevelIndex chunk is too large");
        return -1;
    }
    if (!pairs) {
        PyObject *empty = PyTuple_New(0);
        if (!empty)
            return -1;
        int rc = rebuild_with((LevelIndexObject *)op, empty, chunk);
        Py_DECREF(empty);
        return rc;
    }
    return rebuild_with((LevelIndexObject *)op, pairs, chunk);
}

static void LevelIndex_dealloc(PyObject *op) {
    LevelIndexObject *self = (LevelIndexObject *)op;
    free_storage(self->chunks, self->lens, self->lasts, self->nchunks);
    Py_TYPE(op)->tp_free(op);
}

static Py_ssize_t LevelIndex_len(PyObject *op) {
    return ((LevelIndexObject *)op)->len;
}

static PyMethodDef LevelIndex_methods[] = {
    {"rebuild", LevelIndex_rebuild, METH_O,
     "rebuild(pairs)\n--\n\nReplace the contents with an iterable of (level, pos_id) pairs."},
    {"absorb", (PyCFunction)(void (*)(void))LevelIndex_absorb, METH_FASTCALL,
     "absorb(*others)\n--\n\nMove every pair of other LevelIndex objects into this one; they "
     "end empty."},
    {"min_level", LevelIndex_min_level, METH_NOARGS,
     "min_level()\n--\n\nThe lowest level, or None when empty."},
    {"max_level", LevelIndex_max_level, METH_NOARGS,
     "max_level()\n--\n\nThe highest level, or None when empty."},
    {"add", (PyCFunction)(void (*)(void))LevelIndex_add, METH_FASTCALL,
     "add(level, pos_id)\n--\n\nAdd one pair."},
    {"remove", (PyCFunction)(void (*)(void))LevelIndex_remove, METH_FASTCALL,
     "remove(level, pos_id)\n--\n\nRemove one pair; KeyError((level, pos_id)) when missing."},
    {"pop_from", LevelIndex_pop_from, METH_O,
     "pop_from(level)\n--\n\nRemove every pair with a level >= `level`; their ids, highest "
     "pair first."},
    {"pop_to", LevelIndex_pop_to, METH_O,
     "pop_to(level)\n--\n\nRemove every pair with a level <= `level`; their ids, lowest pair "
     "first."},
    {"pairs", LevelIndex_pairs, METH_NOARGS,
     "pairs()\n--\n\nAll (level, pos_id) pairs in order (for checks and tests)."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods LevelIndex_as_sequence = {
    .sq_length = LevelIndex_len,
};

PyTypeObject LevelIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine_svc.core._native.LevelIndex",
    .tp_basicsize = sizeof(LevelIndexObject),
    .tp_itemsize = 0,
    .tp_dealloc = LevelIndex_dealloc,
    .tp_as_sequence = &LevelIndex_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "LevelIndex(pairs=(), chunk=1024)\n--\n\n"
              "A sorted multiset of (level, pos_id) pairs of signed 64-bit ints, ordered by\n"
              "(level, pos_id), kept in chunked sorted arrays; a chunk longer than `chunk`\n"
              "(>= 2) splits in two.",
    .tp_methods = LevelIndex_methods,
    .tp_init = LevelIndex_init,
    .tp_new = LevelIndex_new,
};

int level_index_register(PyObject *module) {
    /* Readies the type and adds it under its short name. */
    return PyModule_AddType(module, &LevelIndexType);
}
