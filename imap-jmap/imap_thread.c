/*
 * imap_thread.c - THREAD=REFERENCES and THREAD=ORDEREDSUBJECT (RFC 5256
 * 4) and the THREAD answer.  imap_sortthread.h is the contract.
 *
 * The messages' threading data (Message-ID, references, casemapped base
 * subject, reply/forward verdict, sent date) are copied once into one
 * string buffer, so the caller's header summaries are released at once.
 * Containers are an array of nodes linked by index (parent, first and
 * last child, previous and next sibling: every unlink is O(1)); node 0
 * is the root of RFC 5256 step 2.  Two hash tables map msg-ids and
 * subjects to nodes.
 *
 * Invariants: the parent links form a forest at every step (a link is
 * made only after checking that it closes no loop), so every upward walk
 * ends; each message has exactly one node, never deleted, and every node
 * hangs under the root after step 2, so each message appears once in the
 * answer; dummies (no message) exist after step 3 only as children of
 * the root, and have only real children.  No traversal recurses: trees
 * come from peers' headers and may be 20,000 levels deep.
 *
 * REFERENCES cost: each message links at most IMAP_THREAD_REFS_MAX
 * references; a loop check walks up from the would-be parent only when
 * the would-be child has children of its own (a childless node is no
 * one's ancestor), which in mail as it comes (parents before replies) is
 * rare, and all walks share a budget (IMAP_THREAD_WALK_*) past which a
 * link is refused: References crafted to force long walks cannot make a
 * THREAD quadratic.  Sorting is O(n log n) per sibling set.
 *
 * XXX the hash is FNV-1a: a peer who crafts colliding msg-ids makes
 * lookups slower (never wrong); a keyed hash (SipHash) would fix it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/subject.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_sortthread.h"

#define NONE UINT32_MAX
#define ROOT 0u

/* the loop checks' budget: steps up a thread, per message and reference */
#define IMAP_THREAD_WALK_MIN	1000000u
#define IMAP_THREAD_WALK_PER	256u

/* one message being threaded */
struct tmsg {
	uint32_t seq, uid;
	int64_t sent;
	size_t subj_off, subj_len;	/* casemapped base subject */
	bool refwd;
	bool has_id;
	size_t id_off, id_len;
	size_t ref0, nref;		/* References: refs[ref0 .. + nref) */
	bool has_irt;			/* the first In-Reply-To id */
	size_t irt_off, irt_len;
};

struct sref {
	size_t off, len;
};

struct tnode {
	uint32_t msg;		/* index in msgs, NONE for a dummy */
	uint32_t parent, first, last, prev, next;
};

struct hslot {
	uint64_t h;
	size_t off, len;	/* the key, in the string buffer */
	uint32_t node;		/* NONE: empty slot */
};

struct htab {
	struct hslot *v;
	size_t cap, n;		/* cap: a power of two */
};

struct imap_thread {
	struct tmsg *msgs;
	size_t nmsgs;
	struct sref *refs;
	size_t nrefs, refs_cap;
	struct buf str;		/* every string, by offset */
	struct tnode *node;
	size_t nnode, node_cap;
	uint64_t walk;		/* loop-check steps left (is_ancestor) */
};

/* ---- nodes ---- */

static uint32_t
node_new(struct imap_thread *t, uint32_t msg)
{
	struct tnode *n;

	if (t->nnode == t->node_cap) {
		t->node_cap = t->node_cap == 0 ? 64 : t->node_cap * 2;
		t->node = xreallocarray(t->node, t->node_cap,
		    sizeof(*t->node));
	}
	ASSERT(t->nnode < NONE);
	n = &t->node[t->nnode];
	*n = (struct tnode){ msg, NONE, NONE, NONE, NONE, NONE };
	return (uint32_t)t->nnode++;
}

static bool
is_dummy(const struct imap_thread *t, uint32_t x)
{
	return t->node[x].msg == NONE;
}

/* unlink - take x out of its parent's children (no-op without parent) */
static void
unlink_node(struct imap_thread *t, uint32_t x)
{
	struct tnode *n = &t->node[x];

	if (n->parent == NONE)
		return;
	if (n->prev != NONE)
		t->node[n->prev].next = n->next;
	else
		t->node[n->parent].first = n->next;
	if (n->next != NONE)
		t->node[n->next].prev = n->prev;
	else
		t->node[n->parent].last = n->prev;
	n->parent = n->prev = n->next = NONE;
}

/* insert_before - x (parentless) into p's children before ref (NONE:
 * at the end) */
static void
insert_before(struct imap_thread *t, uint32_t p, uint32_t x, uint32_t ref)
{
	struct tnode *n = &t->node[x], *pn = &t->node[p];

	n->parent = p;
	n->next = ref;
	n->prev = ref == NONE ? pn->last : t->node[ref].prev;
	if (n->prev != NONE)
		t->node[n->prev].next = x;
	else
		pn->first = x;
	if (ref != NONE)
		t->node[ref].prev = x;
	else
		pn->last = x;
}

static void
append_child(struct imap_thread *t, uint32_t p, uint32_t x)
{
	insert_before(t, p, x, NONE);
}

/*
 * is_ancestor - a is b or one of b's ancestors.  Every step of a walk is
 * paid from t->walk; when that is spent the answer is "yes", which only
 * refuses a link (never makes a loop), so crafted References cost
 * bounded work and change nothing in mail as it comes.
 */
static bool
is_ancestor(struct imap_thread *t, uint32_t a, uint32_t b)
{
	if (a == b)
		return true;
	if (t->node[a].first == NONE)
		return false;		/* no descendants at all */
	for (uint32_t p = t->node[b].parent; p != NONE; p = t->node[p].parent) {
		if (p == a || t->walk == 0)
			return true;
		t->walk--;
	}
	return false;
}

/*
 * preorder - every node under the root (not the root), each before its
 * descendants; the caller frees the array.  Walked backwards, each node
 * comes after its descendants.
 */
static uint32_t *
preorder(const struct imap_thread *t, size_t *n_r)
{
	uint32_t *out = xreallocarray(NULL, t->nnode, sizeof(*out));
	uint32_t *stack = xreallocarray(NULL, t->nnode, sizeof(*stack));
	size_t n = 0, sp = 0;

	for (uint32_t c = t->node[ROOT].last; c != NONE; c = t->node[c].prev)
		stack[sp++] = c;
	while (sp > 0) {
		uint32_t x = stack[--sp];

		ASSERT(n < t->nnode);
		out[n++] = x;
		for (uint32_t c = t->node[x].last; c != NONE;
		    c = t->node[c].prev)
			stack[sp++] = c;
	}
	free(stack);
	*n_r = n;
	return out;
}

/* ---- the hash tables ---- */

static uint64_t
hash(const char *p, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static struct hslot *
htab_slot(struct htab *tab, const struct buf *str, const char *p, size_t len,
    uint64_t h)
{
	size_t i = (size_t)h & (tab->cap - 1);

	for (;;) {
		struct hslot *s = &tab->v[i];

		if (s->node == NONE || (s->h == h && s->len == len &&
		    memcmp(str->data + s->off, p, len) == 0))
			return s;
		i = (i + 1) & (tab->cap - 1);
	}
}

static void
htab_grow(struct htab *tab, const struct buf *str)
{
	struct hslot *old = tab->v;
	size_t ocap = tab->cap;

	tab->cap = ocap == 0 ? 64 : ocap * 2;
	tab->v = xreallocarray(NULL, tab->cap, sizeof(*tab->v));
	for (size_t i = 0; i < tab->cap; i++)
		tab->v[i].node = NONE;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].node != NONE)
			*htab_slot(tab, str, (const char *)str->data +
			    old[i].off, old[i].len, old[i].h) = old[i];
	free(old);
}

/* htab_get - the node of key str[off, off + len), or NONE */
static uint32_t
htab_get(struct htab *tab, const struct buf *str, size_t off, size_t len)
{
	const char *p = (const char *)str->data + off;

	if (tab->cap == 0)
		return NONE;
	return htab_slot(tab, str, p, len, hash(p, len))->node;
}

/* htab_put - set the node of key str[off, off + len) */
static void
htab_put(struct htab *tab, const struct buf *str, size_t off, size_t len,
    uint32_t node)
{
	const char *p;
	uint64_t h;
	struct hslot *s;

	if (tab->n >= tab->cap / 2)
		htab_grow(tab, str);
	p = (const char *)str->data + off;
	h = hash(p, len);
	s = htab_slot(tab, str, p, len, h);
	if (s->node == NONE)
		tab->n++;
	*s = (struct hslot){ h, off, len, node };
}

/* ---- the messages ---- */

static size_t
add_str(struct imap_thread *t, const char *s)
{
	size_t off = t->str.len;

	buf_add_str(&t->str, s);
	return off;
}

static void
add_ref(struct imap_thread *t, const char *id)
{
	if (t->nrefs == t->refs_cap) {
		t->refs_cap = t->refs_cap == 0 ? 64 : t->refs_cap * 2;
		t->refs = xreallocarray(t->refs, t->refs_cap,
		    sizeof(*t->refs));
	}
	t->refs[t->nrefs].off = add_str(t, id);
	t->refs[t->nrefs].len = strlen(id);
	t->nrefs++;
}

static int
load(struct imap_search_env *env, struct imap_search_msg *m, unsigned bits,
    struct buf *err)
{
	unsigned miss = bits & ~m->loaded;

	if (miss == 0)
		return 0;
	if (env->load == NULL)
		PANIC("imap_thread: fields 0x%x not loaded and no load()",
		    miss);
	if (env->load(env->ctx, m, miss, err) < 0) {
		if (err->len == 0)
			buf_add_str(err, "cannot load the message");
		return -1;
	}
	m->loaded |= miss;
	return 0;
}

/* take - copy what threading needs of m into tm */
static int
take(struct imap_thread *t, struct imap_search_env *env,
    struct imap_search_msg *m, struct tmsg *tm, bool refs, struct buf *err)
{
	const struct mime_headers *h;
	struct buf bs = BUF_INIT(0);

	if (load(env, m, IMAP_SEARCH_NEED_HDR, err) < 0)
		return -1;
	h = m->hdr;
	if (h != NULL && h->has_date) {
		tm->sent = h->date;
	} else {
		if (load(env, m, IMAP_SEARCH_NEED_EMAIL, err) < 0)
			return -1;
		tm->sent = m->internal_date;
	}
	tm->subj_off = t->str.len;
	if (h != NULL && h->base_subject != NULL)
		buf_add_str(&t->str, h->base_subject);
	tm->subj_len = t->str.len - tm->subj_off;
	for (size_t i = tm->subj_off; i < t->str.len; i++)
		if (t->str.data[i] >= 'a' && t->str.data[i] <= 'z')
			t->str.data[i] -= 'a' - 'A';
	if (h != NULL && h->subject != NULL)
		subject_base(h->subject, strlen(h->subject), &bs,
		    &tm->refwd);
	buf_free(&bs);
	tm->ref0 = t->nrefs;
	if (!refs || h == NULL)
		return 0;
	if (h->message_id.n > 0 && h->message_id.v[0][0] != '\0') {
		tm->has_id = true;
		tm->id_off = add_str(t, h->message_id.v[0]);
		tm->id_len = strlen(h->message_id.v[0]);
	}
	if (h->references.n > 0) {
		uint32_t from = h->references.n > IMAP_THREAD_REFS_MAX ?
		    h->references.n - IMAP_THREAD_REFS_MAX : 0;

		for (uint32_t i = from; i < h->references.n; i++)
			if (h->references.v[i][0] != '\0')
				add_ref(t, h->references.v[i]);
	}
	tm->nref = t->nrefs - tm->ref0;
	if (h->in_reply_to.n > 0 && h->in_reply_to.v[0][0] != '\0') {
		tm->has_irt = true;
		tm->irt_off = add_str(t, h->in_reply_to.v[0]);
		tm->irt_len = strlen(h->in_reply_to.v[0]);
	}
	return 0;
}

/* ---- sorting siblings by sent date ---- */

struct dkey {
	int64_t sent;
	uint32_t seq;
};

/* date_key - a node's sent date and MSN; a dummy's first real child's */
static struct dkey
date_key(const struct imap_thread *t, uint32_t x)
{
	while (is_dummy(t, x) && t->node[x].first != NONE)
		x = t->node[x].first;
	if (is_dummy(t, x))
		return (struct dkey){ INT64_MAX, UINT32_MAX };
	return (struct dkey){ t->msgs[t->node[x].msg].sent,
	    t->msgs[t->node[x].msg].seq };
}

struct kpos {
	struct dkey k;
	uint32_t node;
};

static int
cmp_kpos(const void *a, const void *b)
{
	const struct kpos *x = a, *y = b;

	if (x->k.sent != y->k.sent)
		return x->k.sent < y->k.sent ? -1 : 1;
	return x->k.seq < y->k.seq ? -1 : x->k.seq > y->k.seq;
}

/* sort_children - p's children by sent date; kp has room for them */
static void
sort_children(struct imap_thread *t, uint32_t p, struct kpos *kp)
{
	size_t n = 0;
	uint32_t c;

	for (c = t->node[p].first; c != NONE; c = t->node[c].next)
		kp[n++] = (struct kpos){ date_key(t, c), c };
	if (n < 2)
		return;
	qsort(kp, n, sizeof(*kp), cmp_kpos);
	t->node[p].first = t->node[p].last = NONE;
	for (size_t i = 0; i < n; i++) {
		t->node[kp[i].node].parent = NONE;
		append_child(t, p, kp[i].node);
	}
}

/* sort_all - every sibling set, deepest first, the root's last */
static void
sort_all(struct imap_thread *t)
{
	size_t n;
	uint32_t *order = preorder(t, &n);
	struct kpos *kp = xreallocarray(NULL, t->nnode, sizeof(*kp));

	for (size_t i = n; i-- > 0;)
		sort_children(t, order[i], kp);
	sort_children(t, ROOT, kp);
	free(kp);
	free(order);
}

/* ---- REFERENCES ---- */

/* id_node - the node of msg-id str[off, off + len), a new dummy if none */
static uint32_t
id_node(struct imap_thread *t, struct htab *ids, size_t off, size_t len)
{
	uint32_t x = htab_get(ids, &t->str, off, len);

	if (x == NONE) {
		x = node_new(t, NONE);
		htab_put(ids, &t->str, off, len, x);
	}
	return x;
}

/* link_refs - RFC 5256 4 step 1 for message i */
static void
link_refs(struct imap_thread *t, struct htab *ids, uint32_t i)
{
	const struct tmsg *tm = &t->msgs[i];
	uint32_t c = NONE, prev = NONE;

	if (tm->has_id) {
		uint32_t x = htab_get(ids, &t->str, tm->id_off, tm->id_len);

		if (x == NONE) {
			c = node_new(t, i);
			htab_put(ids, &t->str, tm->id_off, tm->id_len, c);
		} else if (is_dummy(t, x)) {
			t->node[x].msg = i;	/* referenced before: fill it */
			c = x;
		}
		/* else a duplicate: the first holder keeps the id */
	}
	if (c == NONE)
		c = node_new(t, i);
	/*
	 * (A) each reference the parent of the next.  A reference to the
	 * message itself is dropped: taken literally, (B) would cut the
	 * message from its real parent (that link is a loop, and the old
	 * one is broken first).
	 */
	for (size_t r = 0; r < tm->nref; r++) {
		const struct sref *ref = &t->refs[tm->ref0 + r];
		uint32_t rc = id_node(t, ids, ref->off, ref->len);

		if (rc == c)
			continue;
		if (prev != NONE && t->node[rc].parent == NONE &&
		    !is_ancestor(t, rc, prev))
			append_child(t, prev, rc);
		prev = rc;
	}
	/* no References (none but itself): the first In-Reply-To */
	if (prev == NONE && tm->has_irt) {
		uint32_t rc = id_node(t, ids, tm->irt_off, tm->irt_len);

		if (rc != c)
			prev = rc;
	}
	/* (B) the last reference is the parent, replacing any */
	unlink_node(t, c);
	if (prev != NONE && !is_ancestor(t, c, prev))
		append_child(t, prev, c);
}

/* prune - RFC 5256 4 step 3 */
static void
prune(struct imap_thread *t)
{
	size_t n;
	uint32_t *order = preorder(t, &n);

	for (size_t i = n; i-- > 0;) {
		uint32_t x = order[i], p = t->node[x].parent;
		struct tnode *xn = &t->node[x];

		if (!is_dummy(t, x))
			continue;
		if (xn->first == NONE) {
			unlink_node(t, x);
			continue;
		}
		if (p == ROOT && xn->first != xn->last)
			continue;	/* two or more children stay under it */
		while (xn->first != NONE) {
			uint32_t c = xn->first;

			unlink_node(t, c);
			insert_before(t, p, c, x);
		}
		unlink_node(t, x);
	}
	free(order);
}

/* subject_of - the thread subject of root child x (step 5.B.i) */
static const struct tmsg *
subject_of(const struct imap_thread *t, uint32_t x)
{
	if (is_dummy(t, x))
		x = t->node[x].first;
	if (x == NONE || is_dummy(t, x))
		return NULL;
	return &t->msgs[t->node[x].msg];
}

static bool
is_refwd(const struct imap_thread *t, uint32_t x)
{
	return !is_dummy(t, x) && t->msgs[t->node[x].msg].refwd;
}

/* merge - RFC 5256 4 step 5.C.iv for root child x and table entry y */
static void
merge(struct imap_thread *t, struct htab *subj, const struct tmsg *s,
    uint32_t x, uint32_t y)
{
	uint32_t d;

	if (is_dummy(t, x) && is_dummy(t, y)) {
		while (t->node[x].first != NONE) {
			uint32_t c = t->node[x].first;

			unlink_node(t, c);
			append_child(t, y, c);
		}
		unlink_node(t, x);
	} else if (is_dummy(t, y) || (is_refwd(t, x) && !is_refwd(t, y))) {
		unlink_node(t, x);
		append_child(t, y, x);
	} else if (is_dummy(t, x)) {
		/* cannot happen (step 5.B puts a dummy in the table when
		 * there is one); kept total: y under x */
		unlink_node(t, y);
		append_child(t, x, y);
		htab_put(subj, &t->str, s->subj_off, s->subj_len, x);
	} else {
		d = node_new(t, NONE);
		/* in y's place (y is a root child: step 5.B only put those
		 * in the table) */
		insert_before(t, ROOT, d, t->node[y].parent == ROOT ? y : NONE);
		unlink_node(t, y);
		unlink_node(t, x);
		append_child(t, d, y);
		append_child(t, d, x);
		htab_put(subj, &t->str, s->subj_off, s->subj_len, d);
	}
}

/* gather - RFC 5256 4 step 5 */
static void
gather(struct imap_thread *t)
{
	struct htab subj = { NULL, 0, 0 };
	uint32_t *top;
	size_t n = 0;

	for (uint32_t c = t->node[ROOT].first; c != NONE; c = t->node[c].next)
		n++;
	top = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*top));
	n = 0;
	for (uint32_t c = t->node[ROOT].first; c != NONE; c = t->node[c].next)
		top[n++] = c;
	/* (B) one message per base subject */
	for (size_t i = 0; i < n; i++) {
		const struct tmsg *s = subject_of(t, top[i]);
		uint32_t y;

		if (s == NULL || s->subj_len == 0)
			continue;
		y = htab_get(&subj, &t->str, s->subj_off, s->subj_len);
		if (y == NONE || (!is_dummy(t, y) && (is_dummy(t, top[i]) ||
		    (is_refwd(t, y) && !is_refwd(t, top[i])))))
			htab_put(&subj, &t->str, s->subj_off, s->subj_len,
			    top[i]);
	}
	/* (C) merge the threads of a subject */
	for (size_t i = 0; i < n; i++) {
		uint32_t x = top[i], y;
		const struct tmsg *s;

		if (t->node[x].parent != ROOT)
			continue;	/* merged into another already */
		s = subject_of(t, x);
		if (s == NULL || s->subj_len == 0)
			continue;
		y = htab_get(&subj, &t->str, s->subj_off, s->subj_len);
		if (y == x || y == NONE)
			continue;
		merge(t, &subj, s, x, y);
	}
	free(top);
	free(subj.v);
}

static void
references(struct imap_thread *t)
{
	struct htab ids = { NULL, 0, 0 };
	struct kpos *kp;

	t->walk = IMAP_THREAD_WALK_MIN + IMAP_THREAD_WALK_PER *
	    (uint64_t)(t->nmsgs + t->nrefs);
	for (uint32_t i = 0; i < t->nmsgs; i++)
		link_refs(t, &ids, i);
	free(ids.v);
	/* (2) the parentless under the root */
	for (uint32_t x = 1; x < t->nnode; x++)
		if (t->node[x].parent == NONE)
			append_child(t, ROOT, x);
	prune(t);
	/* (4) the root's children by date, a dummy's children first */
	kp = xreallocarray(NULL, t->nnode, sizeof(*kp));
	for (uint32_t c = t->node[ROOT].first; c != NONE; c = t->node[c].next)
		if (is_dummy(t, c))
			sort_children(t, c, kp);
	sort_children(t, ROOT, kp);
	free(kp);
	gather(t);
	sort_all(t);		/* (6) */
}

/* ---- ORDEREDSUBJECT ---- */

struct spos {
	const struct imap_thread *t;
	uint32_t msg;
};

static int
cmp_subject(const void *a, const void *b)
{
	const struct spos *x = a, *y = b;
	const struct imap_thread *t = x->t;
	const struct tmsg *mx = &t->msgs[x->msg], *my = &t->msgs[y->msg];
	size_t n = mx->subj_len < my->subj_len ? mx->subj_len : my->subj_len;
	int r = n == 0 ? 0 : memcmp(t->str.data + mx->subj_off,
	    t->str.data + my->subj_off, n);

	if (r != 0)
		return r;
	if (mx->subj_len != my->subj_len)
		return mx->subj_len < my->subj_len ? -1 : 1;
	if (mx->sent != my->sent)
		return mx->sent < my->sent ? -1 : 1;
	return mx->seq < my->seq ? -1 : mx->seq > my->seq;
}

static void
ordered_subject(struct imap_thread *t)
{
	struct spos *v = xreallocarray(NULL, t->nmsgs > 0 ? t->nmsgs : 1,
	    sizeof(*v));
	struct kpos *kp;
	uint32_t head = NONE;

	for (uint32_t i = 0; i < t->nmsgs; i++)
		v[i] = (struct spos){ t, i };
	qsort(v, t->nmsgs, sizeof(*v), cmp_subject);
	for (size_t i = 0; i < t->nmsgs; i++) {
		uint32_t x = node_new(t, v[i].msg);
		const struct tmsg *a = &t->msgs[v[i].msg];
		const struct tmsg *b = head == NONE ? NULL :
		    &t->msgs[t->node[head].msg];

		if (b != NULL && a->subj_len == b->subj_len &&
		    (a->subj_len == 0 || memcmp(t->str.data + a->subj_off,
		    t->str.data + b->subj_off, a->subj_len) == 0)) {
			append_child(t, head, x);
		} else {
			append_child(t, ROOT, x);
			head = x;
		}
	}
	free(v);
	kp = xreallocarray(NULL, t->nnode, sizeof(*kp));
	sort_children(t, ROOT, kp);
	free(kp);
}

/* ---- entry points ---- */

int
imap_thread_run(struct imap_search_env *env, enum imap_thread_alg alg,
    const struct imap_search_result *res, struct imap_thread **t_r,
    struct buf *err)
{
	struct imap_thread *t = xcalloc(1, sizeof(*t));
	bool refs = alg == IMAP_THREAD_REFERENCES;

	ASSERT(alg == IMAP_THREAD_REFERENCES ||
	    alg == IMAP_THREAD_ORDEREDSUBJECT);
	*t_r = NULL;
	buf_init(&t->str, 0);
	t->msgs = xcalloc(res->n > 0 ? res->n : 1, sizeof(*t->msgs));
	for (size_t i = 0; i < res->n; i++) {
		struct imap_search_msg *m = &env->msgs[res->idx[i]];
		struct tmsg *tm = &t->msgs[i];
		unsigned had = m->loaded;
		int rc;

		tm->seq = res->seq[i];
		tm->uid = res->uid[i];
		rc = take(t, env, m, tm, refs, err);
		if (m->loaded != had && env->release != NULL) {
			env->release(env->ctx, m);
			m->loaded = had;
		}
		if (rc < 0) {
			imap_thread_free(&t);
			return -1;
		}
		t->nmsgs++;
	}
	(void)node_new(t, NONE);	/* the root */
	if (refs)
		references(t);
	else
		ordered_subject(t);
	*t_r = t;
	return 0;
}

/*
 * write_list - root child x as "(...)": a chain of only children in one
 * list, two or more children as nested lists (RFC 5256 4 thread-list);
 * an explicit stack, since threads may be deep
 */
static void
write_list(struct buf *out, const struct imap_thread *t, uint32_t x,
    bool uid, uint32_t *stack)
{
	const uint32_t close = NONE;
	size_t sp = 0;

	stack[sp++] = x;
	while (sp > 0) {
		uint32_t y = stack[--sp];
		const struct tnode *n;

		if (y == close) {
			buf_add_str(out, ")");
			continue;
		}
		/* a dummy of one child is that child (cannot happen) */
		while (is_dummy(t, y) && t->node[y].first != NONE &&
		    t->node[y].first == t->node[y].last)
			y = t->node[y].first;
		buf_add_str(out, "(");
		stack[sp++] = close;
		n = &t->node[y];
		if (!is_dummy(t, y)) {
			const struct tmsg *m = &t->msgs[n->msg];

			buf_addf(out, "%u", (unsigned)(uid ? m->uid : m->seq));
			while (n->first != NONE && n->first == n->last &&
			    !is_dummy(t, n->first)) {
				m = &t->msgs[t->node[n->first].msg];
				buf_addf(out, " %u",
				    (unsigned)(uid ? m->uid : m->seq));
				n = &t->node[n->first];
			}
			if (n->first != NONE)
				buf_add_str(out, " ");
		}
		for (uint32_t c = n->last; c != NONE; c = t->node[c].prev)
			stack[sp++] = c;
	}
}

void
imap_thread_write(struct buf *out, const struct imap_thread *t, bool uid)
{
	uint32_t *stack;

	buf_add_str(out, "* THREAD");
	if (t->node[ROOT].first != NONE) {
		/* each node is pushed once, and one close per open */
		stack = xreallocarray(NULL, 2 * t->nnode, sizeof(*stack));
		buf_add_str(out, " ");
		for (uint32_t c = t->node[ROOT].first; c != NONE;
		    c = t->node[c].next)
			write_list(out, t, c, uid, stack);
		free(stack);
	}
	buf_add_str(out, "\r\n");
}

void
imap_thread_free(struct imap_thread **tp)
{
	struct imap_thread *t;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	*tp = NULL;
	free(t->msgs);
	free(t->refs);
	free(t->node);
	buf_free(&t->str);
	free(t);
}
