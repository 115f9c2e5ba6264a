// client.mjs - drive a JMAP server with jmap-jam, a JMAP client library
// from the npm registry (vendored in node_modules/, see README), the way
// a web mail client would: fetch the session, list the mailboxes, query
// and fetch emails, then send one (Email/set create of a draft and
// EmailSubmission/set create, whose onSuccessUpdateEmail moves it from
// Drafts to Sent; RFC 8621 7.5).  t/integration/test_jmap_npm.py runs it
// against a real `postern serve` and checks what it prints.
//
// Usage: JMAP_USER=u@x JMAP_PASSWORD=... node client.mjs SESSION_URL RCPT
//   (the password comes from the environment, not argv, so it stays out
//   of ps).  Prints one JSON object on stdout: {session, mailboxes,
//   query, emails, send}; a step that failed has {"error": ...} where
//   its result would be, and later steps are skipped.  Exit status 0
//   when every step worked, 2 when one failed, 1 on bad usage.
//
// Authentication: Postern offers HTTP Basic only (jmap_auth.c) while
// Jam's constructor takes a bearer token, so the documented authHeader
// property is set to the Basic credentials and the session is loaded
// again with JamClient.loadSession; the constructor's own bearer fetch
// gets a 401 and is discarded.
//
// Runs on Node 18 (Debian 12's nodejs) and later: fetch is global there;
// nothing newer is used.
import JamClient from "jmap-jam";

const MAIL = "urn:ietf:params:jmap:mail";
const SUBMISSION = "urn:ietf:params:jmap:submission";

function fail(msg) {
	process.stderr.write(`client.mjs: ${msg}\n`);
	process.exit(1);
}

// errText - what a Jam rejection holds: a method error object, an array
// of them (requestMany), problem details, or an Error
function errText(e) {
	if (e instanceof Error)
		return { type: "exception", description: String(e.message),
		    cause: e.cause ? String(e.cause) : undefined };
	return e;
}

async function main() {
	const [sessionUrl, rcpt] = process.argv.slice(2);
	const user = process.env.JMAP_USER, password = process.env.JMAP_PASSWORD;

	if (!sessionUrl || !rcpt || !user || password === undefined)
		fail("usage: JMAP_USER=.. JMAP_PASSWORD=.. node client.mjs " +
		    "SESSION_URL RCPT");
	const jam = new JamClient({ sessionUrl, bearerToken: "unused" });
	jam.session.catch(() => {});	/* the bearer attempt, replaced */
	jam.authHeader = "Basic " +
	    Buffer.from(`${user}:${password}`, "utf8").toString("base64");
	jam.session = JamClient.loadSession(sessionUrl, jam.authHeader);

	const out = {};
	let ok = true;
	const step = async (name, fn) => {
		if (!ok)
			return undefined;
		try {
			return await fn();
		} catch (e) {
			out[name] = { error: errText(e) };
			ok = false;
			return undefined;
		}
	};

	/* 1. the session */
	const session = await step("session", async () => {
		const s = await jam.session;
		if (!s || typeof s.apiUrl !== "string")
			throw { type: "badSession", description: JSON.stringify(s) };
		out.session = {
			username: s.username,
			apiUrl: s.apiUrl,
			capabilities: Object.keys(s.capabilities).sort(),
			primaryMail: await jam.getPrimaryAccount(),
			state: s.state,
		};
		return s;
	});
	const accountId = out.session?.primaryMail;

	/* 2. the mailboxes */
	const boxes = await step("mailboxes", async () => {
		const [r] = await jam.api.Mailbox.get({ accountId, ids: null });
		out.mailboxes = r.list.map((m) => ({ id: m.id, name: m.name,
		    role: m.role, totalEmails: m.totalEmails,
		    unreadEmails: m.unreadEmails })).sort((a, b) =>
		    a.name < b.name ? -1 : a.name > b.name);
		return r.list;
	});
	const role = (r) => boxes?.find((m) => m.role === r)?.id;

	/* 3. query the inbox, newest first, and fetch those emails in the
	 * same request (a result reference, RFC 8620 3.7) */
	await step("query", async () => {
		const [r] = await jam.requestMany((t) => {
			const q = t.Email.query({ accountId,
			    filter: { inMailbox: role("inbox") },
			    sort: [{ property: "receivedAt", isAscending: false }],
			    limit: 10, calculateTotal: true });
			const g = t.Email.get({ accountId, ids: q.$ref("/ids"),
			    properties: ["id", "threadId", "mailboxIds", "keywords",
			    "from", "to", "subject", "receivedAt", "size", "preview",
			    "textBody", "bodyValues"],
			    fetchTextBodyValues: true });
			return { q, g };
		});
		out.query = { ids: r.q.ids, total: r.q.total,
		    position: r.q.position, queryState: r.q.queryState };
		out.emails = r.g.list.map((e) => ({
			id: e.id, threadId: e.threadId,
			mailboxIds: Object.keys(e.mailboxIds).sort(),
			keywords: Object.keys(e.keywords).sort(),
			from: e.from, to: e.to, subject: e.subject,
			receivedAt: e.receivedAt, size: e.size, preview: e.preview,
			text: e.textBody.map((p) => e.bodyValues[p.partId]?.value)
			    .join(""),
		}));
	});

	/* 4. send one: the identity, the draft, then its submission, whose
	 * onSuccessUpdateEmail files it in Sent (RFC 8621 7.5).  Separate
	 * requests: Jam's requestMany keys the responses by call id, and
	 * the implicit Email/set response that onSuccessUpdateEmail adds
	 * (same call id) would replace EmailSubmission/set's; request()
	 * keeps the first response, the submission's. */
	await step("send", async () => {
		const [ids] = await jam.api.Identity.get({ accountId, ids: null });
		const ident = ids.list.find((i) => i.email === user) ??
		    ids.list[0];
		if (!ident)
			throw { type: "noIdentity", description: "Identity/get " +
			    "listed none" };
		const drafts = role("drafts"), sent = role("sent");
		const subject = `npm client ${Date.now()}`;
		const [set] = await jam.api.Email.set({ accountId, create: {
		    draft: {
			mailboxIds: { [drafts]: true },
			keywords: { $draft: true, $seen: true },
			from: [{ name: ident.name || null, email: ident.email }],
			to: [{ name: null, email: rcpt }],
			subject,
			bodyValues: { b: { value: "Sent by jmap-jam.\n" } },
			textBody: [{ partId: "b", type: "text/plain" }],
		} } });
		if (!set.created?.draft)
			throw { type: "notCreated", description: JSON.stringify(
			    set.notCreated) };
		const emailId = set.created.draft.id;
		const [sub] = await jam.request(["EmailSubmission/set", {
			accountId,
			create: { send: { identityId: ident.id, emailId } },
			onSuccessUpdateEmail: { "#send": {
				[`mailboxIds/${drafts}`]: null,
				[`mailboxIds/${sent}`]: true,
				"keywords/$draft": null,
			} },
		}]);
		if (!sub.created?.send)
			throw { type: "notSubmitted", description: JSON.stringify(
			    sub.notCreated) };
		const [after] = await jam.api.Email.get({ accountId,
		    ids: [emailId], properties: ["mailboxIds", "keywords"] });
		const e = after.list[0];
		out.send = { identity: ident.email, subject, emailId,
		    submissionId: sub.created.send.id,
		    mailboxIds: e ? Object.keys(e.mailboxIds).sort() : null,
		    keywords: e ? Object.keys(e.keywords).sort() : null,
		    drafts, sent };
	});

	out.ok = ok;
	out.advertised = session ? [MAIL, SUBMISSION].filter((c) =>
	    c in session.capabilities) : [];
	process.stdout.write(JSON.stringify(out) + "\n");
	process.exit(ok ? 0 : 2);
}

main().catch((e) => fail(String(e && e.stack ? e.stack : e)));
