/*
 * jmap_session.c - the session resource (RFC 8620 2): capabilities with
 * the core limits, the user's one account, primaryAccounts, the URLs and
 * the state.
 *
 * Only what is implemented is advertised: a capability appears when a
 * method of it is in the tables (jmap_caps_advertised), so mail shows up
 * with Mailbox/Thread and submission not before EmailSubmission exists.
 *
 * Every user has exactly one account, personal and writable, named by
 * its directory id ("A<id>"); sharing would add accounts here.
 *
 * The state is a hash of what the resource says apart from its URLs
 * (which follow the Host a client used): capabilities, limits, account
 * and user name.  A new release that adds a capability changes it, so
 * clients refetch the session when a response's sessionState differs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

/* the collations /query understands (jmap_std.c) */
static const char *const collations[] = {
	"i;ascii-casemap", "i;octet", NULL,
};

static json_t *
core_capability(const struct jmap_limits *l)
{
	json_t *c = json_object(), *a = json_array();

	json_object_set_new(c, "maxSizeUpload",
	    json_integer((json_int_t)l->max_size_upload));
	json_object_set_new(c, "maxConcurrentUpload",
	    json_integer(l->max_concurrent_upload));
	json_object_set_new(c, "maxSizeRequest",
	    json_integer((json_int_t)l->max_size_request));
	json_object_set_new(c, "maxConcurrentRequests",
	    json_integer(l->max_concurrent_requests));
	json_object_set_new(c, "maxCallsInRequest",
	    json_integer(l->max_calls_in_request));
	json_object_set_new(c, "maxObjectsInGet",
	    json_integer(l->max_objects_in_get));
	json_object_set_new(c, "maxObjectsInSet",
	    json_integer(l->max_objects_in_set));
	for (size_t i = 0; collations[i] != NULL; i++)
		json_array_append_new(a, json_string(collations[i]));
	json_object_set_new(c, "collationAlgorithms", a);
	return c;
}

/* mail_account_capability - RFC 8621 1.3.1 */
static json_t *
mail_account_capability(const struct jmap_env *env)
{
	json_t *c = json_object(), *sorts = json_array();

	json_object_set_new(c, "maxMailboxesPerEmail", json_integer(256));
	json_object_set_new(c, "maxMailboxDepth",
	    json_integer(MAIL_DEPTH_MAX));
	json_object_set_new(c, "maxSizeMailboxName",
	    json_integer(MAIL_NAME_MAX));
	json_object_set_new(c, "maxSizeAttachmentsPerEmail",
	    json_integer((json_int_t)env->cfg->smtp.max_message_size));
	json_object_set_new(c, "emailQuerySortOptions", sorts);
	for (size_t i = 0; jmap_email_sorts[i] != NULL; i++)
		json_array_append_new(sorts, json_string(jmap_email_sorts[i]));
	json_object_set_new(c, "mayCreateTopLevelMailbox", json_true());
	return c;
}

/* the parts of the session that the state covers */
static void
session_core(const struct jmap_env *env, uint32_t acct, const char *username,
    json_t *s)
{
	unsigned caps = jmap_caps_advertised(env);
	json_t *capabilities = json_object(), *accounts = json_object();
	json_t *account = json_object(), *acaps = json_object();
	json_t *primary = json_object();
	char id[JMAP_ID_MAX];

	jmap_id_make('A', acct, id);
	for (int c = 0; c < JMAP_CAP_COUNT; c++) {
		if ((caps & JMAP_CAP_BIT(c)) == 0)
			continue;
		json_object_set_new(capabilities, jmap_cap_names[c],
		    c == JMAP_CAP_CORE ? core_capability(&env->lim) :
		    json_object());
		if (c == JMAP_CAP_CORE)
			continue;
		json_object_set_new(acaps, jmap_cap_names[c],
		    c == JMAP_CAP_MAIL ? mail_account_capability(env) :
		    c == JMAP_CAP_SUBMISSION ?
		    jmap_submission_capability(env) : json_object());
		json_object_set_new(primary, jmap_cap_names[c],
		    json_string(id));
	}
	json_object_set_new(account, "name", json_string(username));
	json_object_set_new(account, "isPersonal", json_true());
	json_object_set_new(account, "isReadOnly", json_false());
	json_object_set_new(account, "accountCapabilities", acaps);
	json_object_set_new(accounts, id, account);
	json_object_set_new(s, "capabilities", capabilities);
	json_object_set_new(s, "accounts", accounts);
	json_object_set_new(s, "primaryAccounts", primary);
	json_object_set_new(s, "username", json_string(username));
}

void
jmap_session_state(const struct jmap_env *env, uint32_t acct,
    const char *username, char out[24])
{
	json_t *s = json_object();
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *text;

	session_core(env, acct, username, s);
	text = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		PANIC("json_dumps failed");
	SHA256((const unsigned char *)text, strlen(text), md);
	for (size_t i = 0; i < 8; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
	free(text);
	json_decref(s);
}

static json_t *
url(const char *base, const char *path)
{
	struct buf b = BUF_INIT(0);
	json_t *v;

	buf_add_str(&b, base);
	buf_add_str(&b, path);
	v = json_string(buf_cstr(&b));
	buf_free(&b);
	return v;
}

json_t *
jmap_session_json(const struct jmap_env *env, uint32_t acct,
    const char *username, const char *base)
{
	json_t *s = json_object();
	char state[24];

	session_core(env, acct, username, s);
	json_object_set_new(s, "apiUrl", url(base, "/jmap/api/"));
	json_object_set_new(s, "downloadUrl", url(base, "/jmap/download/"
	    "{accountId}/{blobId}/{name}?type={type}"));
	json_object_set_new(s, "uploadUrl", url(base,
	    "/jmap/upload/{accountId}/"));
	json_object_set_new(s, "eventSourceUrl", url(base, "/jmap/eventsource/"
	    "?types={types}&closeafter={closeafter}&ping={ping}"));
	jmap_session_state(env, acct, username, state);
	json_object_set_new(s, "state", json_string(state));
	return s;
}
