/*
 * gen_corpus.c -- writes the seeds of tests/fuzz/corpus/<target>/ that
 * need EPSIP to be made: tokens signed with fuzz.h's keys, envelopes,
 * batches and control messages as the encoders write them, STUN requests,
 * masked WebSocket frames, and real SIP messages (tests/corpus/, with
 * @TOKEN_A@ and @TOKEN_B@ replaced by the tokens of fuzz_router.h's UDP
 * and TCP flows) behind the byte that tells each target what follows.
 *
 *   usage: gen_corpus OUT_DIR [SIP_CORPUS_DIR]
 *
 * `make fuzz-corpus` runs it into tests/fuzz/corpus.  Its output is the
 * same on every run, so regenerated seeds only change when the code that
 * makes them does; it leaves other files there (the regress-* inputs of
 * the bugs the targets found) alone.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "epsip/flow_token.h"
#include "epsip/ipc.h"
#include "epsip/sip_util.h"
#include "epsip/wire.h"
#include "../../services/flow-manager/control.h"

#include "fuzz.h"
#include "fuzz_router.h"

#define SEED_MAX	(128 * 1024)

static const char *out_dir;

/* A seed under construction. */
struct seed {
	uint8_t b[SEED_MAX];
	size_t n;
};

static void
die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
add(struct seed *s, const void *p, size_t n)
{
	if (s->n + n > sizeof(s->b)) {
		fprintf(stderr, "gen_corpus: seed too long\n");
		exit(1);
	}
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void
add_str(struct seed *s, const char *text)
{
	add(s, text, strlen(text));
}

static void
add_u8(struct seed *s, uint8_t v)
{
	add(s, &v, 1);
}

static void
start(struct seed *s, uint8_t selector)
{
	s->n = 0;
	add_u8(s, selector);
}

static void
put(const char *target, const char *name, const struct seed *s)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		die(path);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(s->b, 1, s->n, f) != s->n || fclose(f) != 0) {
		die(path);
	}
}

/* ---- SIP messages ---- */

#define REGISTER_TEXT(transport, contact) \
	"REGISTER sip:example.com SIP/2.0\r\n" \
	"Via: SIP/2.0/" transport " 10.0.0.5:5060;branch=z9hG4bK-reg1;" \
	"rport\r\n" \
	"Max-Forwards: 70\r\n" \
	"From: <sip:bob@example.com>;tag=f1\r\n" \
	"To: <sip:bob@example.com>\r\n" \
	"Call-ID: reg-1@10.0.0.5\r\n" \
	"CSeq: 1 REGISTER\r\n" \
	"Supported: path, outbound\r\n" \
	"Contact: <sip:bob@" contact ";ob>;reg-id=1;" \
	"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"" \
	"\r\n" \
	"Content-Length: 0\r\n\r\n"

#define INVITE_TEXT(transport) \
	"INVITE sip:carol@example.com SIP/2.0\r\n" \
	"Via: SIP/2.0/" transport " 10.0.0.5:5060;branch=z9hG4bK-inv1;" \
	"rport\r\n" \
	"Max-Forwards: 70\r\n" \
	"From: <sip:bob@example.com>;tag=b1\r\n" \
	"To: <sip:carol@example.com>\r\n" \
	"Call-ID: out-1@10.0.0.5\r\n" \
	"CSeq: 5 INVITE\r\n" \
	"Contact: <sip:bob@10.0.0.5:5060;ob>\r\n" \
	"Content-Type: application/sdp\r\n" \
	"Content-Length: 24\r\n\r\n" \
	"v=0\r\no=- 1 1 IN IP4 x\r\n"

static const char *const via_names[] = {
	"UDP", "TCP", "TLS", "WS", "WSS",
};

static size_t
read_file(const char *path, char *buf, size_t cap)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		die(path);
	}
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (n);
}

/* Replace every `mark` in the NUL-terminated text (room: cap). */
static void
substitute(char *text, size_t cap, const char *mark, const char *with)
{
	size_t mlen = strlen(mark), wlen = strlen(with), len = strlen(text);
	char *p;

	while ((p = strstr(text, mark)) != NULL) {
		if (len - mlen + wlen >= cap) {
			fprintf(stderr, "gen_corpus: message too long\n");
			exit(1);
		}
		memmove(p + wlen, p + mlen, strlen(p + mlen) + 1);
		memcpy(p, with, wlen);
		len = len - mlen + wlen;
	}
}

static void
token_text(const struct router_origin *o, char *text, size_t cap)
{
	if (router_flow_token(&routers[0], &o->flow, text, cap) <= 0) {
		fprintf(stderr, "gen_corpus: cannot make a token\n");
		exit(1);
	}
}

/* The SIP messages of tests/corpus, sorted by name. */
static int
cmp_names(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static size_t
list_sip_corpus(const char *dir, char **names, size_t cap)
{
	struct dirent *de;
	size_t n = 0, len;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		die(dir);
	}
	while ((de = readdir(d)) != NULL && n < cap) {
		len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".sip") == 0) {
			names[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	return (n);
}

/* ---- router ---- */

/* Byte 0 of fuzz_router.c: bit 0 upstream, bits 1-3 what follows. */
static uint8_t
router_selector(int upstream, int op)
{
	return ((uint8_t)(op << 1 | upstream));
}

static void
router_seed(const char *name, int upstream, int op, const char *text,
    size_t len)
{
	struct seed s;
	char full[256];

	start(&s, router_selector(upstream, op));
	add(&s, text, len);
	snprintf(full, sizeof(full), "%s-%s", name, upstream ? "upstream" :
	    "embedded");
	put("router", full, &s);
}

/* tests/corpus/: flow-udp-*, flow-tcp-* (also over TLS, WS, WSS), core-*. */
static void
router_from_sip_corpus(const char *dir, char **names, size_t n)
{
	char path[512], text[8192], tok_a[FLOW_TOKEN_MAX_TEXT];
	char tok_b[FLOW_TOKEN_MAX_TEXT], name[256];
	size_t len;

	token_text(&flows[0], tok_a, sizeof(tok_a));
	token_text(&flows[1], tok_b, sizeof(tok_b));
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		read_file(path, text, sizeof(text));
		substitute(text, sizeof(text), "@TOKEN_A@", tok_a);
		substitute(text, sizeof(text), "@TOKEN_B@", tok_b);
		len = strlen(text);
		snprintf(name, sizeof(name), "%.*s", (int)strlen(names[i]) - 4,
		    names[i]);
		for (int up = 0; up < 2; up++) {
			if (strncmp(names[i], "core-", 5) == 0) {
				router_seed(name, up, 5, text, len);
			} else if (strncmp(names[i], "flow-udp-", 9) == 0) {
				router_seed(name, up, 0, text, len);
			} else {
				/* A stream message: TCP, and WSS for JsSIP. */
				router_seed(name, up, strstr(names[i],
				    "jssip") != NULL ? 4 : 1, text, len);
			}
		}
	}
}

/* A 200 from the core to what the router forwarded, as the fixture does. */
static int
core_answer(const struct router_output *fwd, char **text, size_t *len)
{
	osip_message_t *req, *resp;
	int rc = -1;

	if (fwd->sip == NULL || sip_parse(fwd->sip, fwd->sip_len, &req) != 0) {
		return (-1);
	}
	if (sip_reply_create(req, 200, NULL, &resp) == 0) {
		osip_generic_param_t *tag = NULL;

		/* A fixed To-tag, so that the seeds are the same every run. */
		if (resp->to != NULL && osip_to_get_tag(resp->to, &tag) == 0 &&
		    tag != NULL) {
			osip_free(tag->gvalue);
			tag->gvalue = osip_strdup("core-tag-1");
		}
		if (strcmp(req->sip_method, "REGISTER") == 0) {
			osip_message_set_contact(resp,
			    "<sip:bob@10.0.0.5:5060;ob>;expires=3600;reg-id=1;"
			    "+sip.instance=\"<urn:uuid:"
			    "00000000-0000-1000-8000-000A95A0E128>\"");
			osip_message_set_header(resp, "Require", "outbound");
			osip_message_set_header(resp, "Flow-Timer", "29");
		}
		rc = sip_serialize(resp, text, len);
		osip_message_free(resp);
	}
	osip_message_free(req);
	return (rc);
}

static void
router_seeds(const char *sip_dir)
{
	struct router_output out;
	char text[4096], tok[FLOW_TOKEN_MAX_TEXT], name[64], *answer;
	char *names[64];
	size_t n, alen;
	int len;

	n = list_sip_corpus(sip_dir, names, 64);
	router_from_sip_corpus(sip_dir, names, n);
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
	}
	for (int t = 0; t < EPSIP_TRANSPORT_MAX; t++) {
		for (int up = 0; up < 2; up++) {
			len = snprintf(text, sizeof(text), REGISTER_TEXT("%s",
			    "10.0.0.5:5060"), via_names[t]);
			snprintf(name, sizeof(name), "register-%s",
			    via_names[t]);
			router_seed(name, up, t, text, (size_t)len);
			len = snprintf(text, sizeof(text), INVITE_TEXT("%s"),
			    via_names[t]);
			snprintf(name, sizeof(name), "invite-%s",
			    via_names[t]);
			router_seed(name, up, t, text, (size_t)len);

			/* The core's answer to that REGISTER. */
			len = snprintf(text, sizeof(text), REGISTER_TEXT("%s",
			    "10.0.0.5:5060"), via_names[t]);
			router_process(&routers[up], &flows[t], text,
			    (size_t)len, &out);
			if (core_answer(&out, &answer, &alen) == 0) {
				snprintf(name, sizeof(name),
				    "core-200-register-%s", via_names[t]);
				router_seed(name, up, 5, answer, alen);
				free(answer);
			}
			router_output_clear(&out);

			/* A call from the core for the flow, by its token. */
			token_text(&flows[t], tok, sizeof(tok));
			len = snprintf(text, sizeof(text),
			    "INVITE sip:bob@10.0.0.5:5060;ob SIP/2.0\r\n"
			    "Via: SIP/2.0/UDP 198.51.100.50;"
			    "branch=z9hG4bK-c1\r\n"
			    "Route: <sip:%s@192.0.2.1:5060;lr;ob>\r\n"
			    "Max-Forwards: 69\r\n"
			    "From: <sip:alice@example.com>;tag=a1\r\n"
			    "To: <sip:bob@example.com>\r\n"
			    "Call-ID: in-1@198.51.100.50\r\n"
			    "CSeq: 1 INVITE\r\n"
			    "Contact: <sip:alice@198.51.100.50>\r\n"
			    "Content-Length: 0\r\n\r\n", tok);
			snprintf(name, sizeof(name), "core-invite-to-%s",
			    via_names[t]);
			router_seed(name, up, 5, text, (size_t)len);

			/* ... which the child could not deliver. */
			router_process(&routers[up], &core, text, (size_t)len,
			    &out);
			if (out.dest == ROUTER_TO_FLOW && out.sip != NULL) {
				snprintf(name, sizeof(name),
				    "undeliverable-invite-%s", via_names[t]);
				router_seed(name, up, 6, out.sip, out.sip_len);
			}
			router_output_clear(&out);
		}
	}
	/* The headers of a stream whose framing broke: two lengths. */
	len = snprintf(text, sizeof(text), "%s", REGISTER_TEXT("TCP",
	    "10.0.0.5:5060"));
	memcpy(text + len - 2, "l: 0\r\n\r\n", 9);
	for (int up = 0; up < 2; up++) {
		struct seed s;

		/* Bits 5-6 pick the stream flow, bit 4 the status 513. */
		start(&s, router_selector(up, 7));
		add(&s, text, (size_t)len + 6);
		put("router", up ? "framing-400-tcp-upstream" :
		    "framing-400-tcp-embedded", &s);
		start(&s, (uint8_t)(router_selector(up, 7) | 16 | 3 << 5));
		add(&s, text, (size_t)len + 6);
		put("router", up ? "framing-513-wss-upstream" :
		    "framing-513-wss-embedded", &s);
	}
}

/* ---- sip_frame ---- */

static void
sip_frame_seeds(const char *sip_dir)
{
	static const struct {
		const char *name;
		uint8_t sel;
		const char *text;
	} fixed[] = {
		{ "no-length", 0,
		    "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n" },
		{ "two-lengths", 0, "OPTIONS sip:a@b SIP/2.0\r\n"
		    "Content-Length: 0\r\nl: 0\r\n\r\n" },
		{ "negative-length", 0, "OPTIONS sip:a@b SIP/2.0\r\n"
		    "Content-Length: -1\r\n\r\n" },
		{ "folded-length", 0, "OPTIONS sip:a@b SIP/2.0\r\n"
		    "Content-Length:\r\n 4\r\n\r\nbody" },
		{ "bare-lf", 0, "SIP/2.0 200 OK\nl: 2\n\nok" },
		{ "ping-split", 0, "\r\n\r\n\r\n\r\n\r\nOPTIONS sip:a@b "
		    "SIP/2.0\r\nl:0\r\n\r\n" },
		{ "junk", 0, "hello there\r\n\r\n" },
		{ "stun", 0, "\x00\x01\x00\x00\x21\x12\xa4\x42" },
		{ "too-large-header", 3, "OPTIONS sip:a@b SIP/2.0\r\n"
		    "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaa\r\n"
		    "l: 0\r\n\r\n" },
		{ "too-large-body", 3, "OPTIONS sip:a@b SIP/2.0\r\n"
		    "l: 100\r\n\r\n" },
	};
	char path[512], a[8192], b[8192], *names[64];
	struct seed s;
	size_t n, alen;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		start(&s, fixed[i].sel);
		/* "stun" holds NULs: its length is its literal's. */
		add(&s, fixed[i].text, strcmp(fixed[i].name, "stun") == 0 ? 8 :
		    strlen(fixed[i].text));
		put("sip_frame", fixed[i].name, &s);
	}
	n = list_sip_corpus(sip_dir, names, 64);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], "core-", 5) == 0) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", sip_dir, names[i]);
		alen = read_file(path, a, sizeof(a));
		/* Alone; then with keep-alives and the REGISTER behind it. */
		start(&s, 0);
		add(&s, a, alen);
		put("sip_frame", names[i], &s);
		snprintf(path, sizeof(path),
		    "%s/flow-udp-baresip-register.sip", sip_dir);
		start(&s, 1);
		add(&s, a, alen);
		add_str(&s, "\r\n\r\n\r\n");
		add(&s, b, read_file(path, b, sizeof(b)));
		snprintf(path, sizeof(path), "pinged-%s", names[i]);
		put("sip_frame", path, &s);
		/* Over the 512-byte limit. */
		start(&s, 2);
		add(&s, a, alen);
		snprintf(path, sizeof(path), "max512-%s", names[i]);
		put("sip_frame", path, &s);
		free(names[i]);
	}
}

/* ---- udp_stun ---- */

#define STUN_COOKIE	"\x21\x12\xa4\x42"
#define STUN_TXID	"\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae"

/* Byte 0, then the phone's port and address (fuzz_udp_stun.c). */
static void
udp_start(struct seed *s, int v6, int known)
{
	static const uint8_t ip4[16] = { 198, 51, 100, 7 };
	static const uint8_t ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0x99 };

	start(s, (uint8_t)(v6 | known << 1));
	add_u8(s, 40000 >> 8);
	add_u8(s, 40000 & 0xff);
	add(s, v6 ? ip6 : ip4, 16);
}

/* A STUN message: type, then the attributes `attrs` (already padded). */
static void
add_stun(struct seed *s, uint16_t type, const char *attrs, size_t alen)
{
	add_u8(s, (uint8_t)(type >> 8));
	add_u8(s, (uint8_t)type);
	add_u8(s, (uint8_t)(alen >> 8));
	add_u8(s, (uint8_t)alen);
	add(s, STUN_COOKIE STUN_TXID, 16);
	add(s, attrs, alen);
}

static void
udp_stun_seeds(const char *sip_dir)
{
	/* SOFTWARE "baresip", padded; USERNAME; CHANGE-REQUEST (0x0003,
	 * not ours: 420); FINGERPRINT-like optional 0x8028. */
	static const char software[] = "\x80\x22\x00\x07" "baresip" "\x00";
	static const char username[] = "\x00\x06\x00\x04" "user";
	static const char change[] = "\x00\x03\x00\x04\x00\x00\x00\x06";
	static const char fingerprint[] = "\x80\x28\x00\x04\x5a\x1c\x33\x01";
	char path[512], text[8192];
	struct seed s;

	for (int v6 = 0; v6 < 2; v6++) {
		for (int known = 0; known < 2; known++) {
			udp_start(&s, v6, known);
			add_stun(&s, 0x0001, "", 0);
			snprintf(path, sizeof(path), "binding-%s-%s",
			    v6 ? "ipv6" : "ipv4", known ? "flow" : "new");
			put("udp_stun", path, &s);
		}
	}
	udp_start(&s, 0, 1);
	add_stun(&s, 0x0001, software, sizeof(software) - 1);
	put("udp_stun", "binding-software", &s);
	udp_start(&s, 0, 0);
	add_stun(&s, 0x0001, username, sizeof(username) - 1);
	put("udp_stun", "binding-username", &s);
	udp_start(&s, 1, 0);
	{
		char attrs[64];
		size_t n = 0;

		memcpy(attrs + n, change, sizeof(change) - 1);
		n += sizeof(change) - 1;
		memcpy(attrs + n, fingerprint, sizeof(fingerprint) - 1);
		n += sizeof(fingerprint) - 1;
		add_stun(&s, 0x0001, attrs, n);
	}
	put("udp_stun", "binding-unknown-attribute-420", &s);
	udp_start(&s, 0, 1);
	add_stun(&s, 0x0011, change, sizeof(change) - 1);
	put("udp_stun", "indication", &s);
	udp_start(&s, 0, 1);
	add_str(&s, "\r\n\r\n");
	put("udp_stun", "crlf-keepalive-flow", &s);
	udp_start(&s, 0, 0);
	add_str(&s, "\r\n\r\n");
	put("udp_stun", "crlf-keepalive-new", &s);
	udp_start(&s, 0, 0);
	add(&s, "\0\0\0\0", 4);
	put("udp_stun", "zeros", &s);
	udp_start(&s, 0, 0);
	add(&s, "\xf8\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 12);
	put("udp_stun", "sigcomp", &s);
	snprintf(path, sizeof(path), "%s/flow-udp-baresip-register.sip",
	    sip_dir);
	udp_start(&s, 0, 0);
	add(&s, text, read_file(path, text, sizeof(text)));
	put("udp_stun", "sip-register", &s);
}

/* ---- flow_token ---- */

static void
flow_token_seeds(void)
{
	struct flow_token_keyring same, other;
	char text[FLOW_TOKEN_MAX_TEXT], name[64];
	struct wire_writer w;
	struct seed s;
	uint8_t fields[64];
	int n;

	fuzz_keyring(&same, 1);
	fuzz_keyring(&other, 0);
	for (int t = 0; t < EPSIP_TRANSPORT_MAX; t++) {
		const struct flow_token *f = &flows[t].flow;

		/* Byte 0 even: decode; bit 1: the ring with equal ids. */
		n = flow_token_encode(&other.current, f, text, sizeof(text));
		start(&s, 0);
		add(&s, text, (size_t)n);
		snprintf(name, sizeof(name), "current-%s", via_names[t]);
		put("flow_token", name, &s);
		n = flow_token_encode(&other.previous, f, text, sizeof(text));
		start(&s, 0);
		add(&s, text, (size_t)n);
		snprintf(name, sizeof(name), "previous-%s", via_names[t]);
		put("flow_token", name, &s);
		n = flow_token_encode(&same.previous, f, text, sizeof(text));
		start(&s, 2);
		add(&s, text, (size_t)n);
		snprintf(name, sizeof(name), "previous-same-id-%s",
		    via_names[t]);
		put("flow_token", name, &s);

		/* Byte 0 odd: the fields of fuzz_flow_token.c's round trip. */
		wire_writer_init(&w, fields, sizeof(fields));
		wire_put_u16(&w, f->flow.instance);
		wire_put_u32(&w, f->flow.child);
		wire_put_u32(&w, f->flow.slot);
		wire_put_u32(&w, f->flow.generation);
		wire_put_u8(&w, f->transport);
		wire_put_u8(&w, f->local.family == AF_INET6 ? 1 : 0);
		wire_put_u16(&w, f->local.port);
		wire_put_bytes(&w, f->local.ip, f->local.family == AF_INET6 ?
		    16 : 4);
		wire_put_u16(&w, f->remote.port);
		wire_put_bytes(&w, f->remote.ip, f->remote.family ==
		    AF_INET6 ? 16 : 4);
		wire_put_u32(&w, 0x00f0000fu);	/* which to %-escape */
		wire_put_u32(&w, 17);		/* which to change */
		start(&s, (uint8_t)(1 | (t & 1) << 1 | (t & 2) << 1));
		add(&s, fields, wire_written(&w));
		snprintf(name, sizeof(name), "fields-%s", via_names[t]);
		put("flow_token", name, &s);
	}
	/* Escaped as a Route may carry it. */
	n = flow_token_encode(&other.current, &flows[0].flow, text,
	    sizeof(text));
	start(&s, 0);
	add(&s, text, 10);
	add_str(&s, "%2D%5f");
	add(&s, text + 10, (size_t)n - 10);
	put("flow_token", "current-escaped", &s);
}

/* ---- ipc ---- */

static void
envelope(struct epsip_msg *m, enum epsip_msg_type type, uint8_t transport,
    const char *payload)
{
	epsip_msg_init(m, type);
	m->flow = flows[transport - 1].flow.flow;
	m->transport = transport;
	m->local = flows[transport - 1].flow.local;
	m->remote = flows[transport - 1].flow.remote;
	m->stamp_ms = 86400123;
	m->payload = (const uint8_t *)payload;
	m->payload_len = payload != NULL ? strlen(payload) : 0;
}

static void
ipc_seeds(void)
{
	static const char reg[] = REGISTER_TEXT("UDP", "10.0.0.5:5060");
	struct epsip_msg m[8];
	struct fm_ctl_msg c;
	struct seed s;
	uint8_t buf[8192];
	char tok[FLOW_TOKEN_MAX_TEXT], name[64];
	size_t len, o;
	int k = 0;

	token_text(&flows[1], tok, sizeof(tok));
	envelope(&m[k++], EPSIP_MSG_SIP_FROM_FLOW, EPSIP_TRANSPORT_UDP, reg);
	envelope(&m[k], EPSIP_MSG_SIP_TO_FLOW, EPSIP_TRANSPORT_TCP, reg);
	m[k++].flags = EPSIP_MSG_F_CLOSE_AFTER_SEND;
	envelope(&m[k], EPSIP_MSG_FLOW_CLOSED, EPSIP_TRANSPORT_TCP, tok);
	m[k++].arg = EPSIP_CLOSE_TIMEOUT;
	envelope(&m[k], EPSIP_MSG_FLOW_SET_TIMER, EPSIP_TRANSPORT_WSS,
	    "sip:bob@example.com");
	m[k++].arg = 29;
	envelope(&m[k], EPSIP_MSG_OVERLOAD, EPSIP_TRANSPORT_UDP, NULL);
	m[k].transport = EPSIP_TRANSPORT_NONE;
	memset(&m[k].local, 0, sizeof(m[k].local));
	memset(&m[k].remote, 0, sizeof(m[k].remote));
	m[k++].arg = 16384;
	envelope(&m[k], EPSIP_MSG_HELLO, EPSIP_TRANSPORT_UDP,
	    "{\"service\":\"sip-router\",\"pid\":42,\"version\":\"1\"}");
	m[k].transport = EPSIP_TRANSPORT_NONE;
	memset(&m[k].local, 0, sizeof(m[k].local));
	memset(&m[k].remote, 0, sizeof(m[k].remote));
	k++;
	envelope(&m[k++], EPSIP_MSG_SIP_TO_CORE, EPSIP_TRANSPORT_WSS, reg);
	for (int i = 0; i < k; i++) {
		/* Byte 0 modulo 3: 0 an envelope, 1 a batch, 2 control. */
		start(&s, 0);
		if (epsip_msg_encode(&m[i], buf, sizeof(buf), &len) !=
		    EPSIP_MSG_OK) {
			fprintf(stderr, "gen_corpus: envelope\n");
			exit(1);
		}
		add(&s, buf, len);
		snprintf(name, sizeof(name), "envelope-%s",
		    epsip_msg_type_name(m[i].type));
		put("ipc", name, &s);
	}
	start(&s, 1);
	epsip_batch_put_header(buf, 3);
	o = EPSIP_BATCH_HEADER_SIZE;
	for (int i = 0; i < 3; i++) {
		if (epsip_batch_put_entry(&m[i * 2], buf + o, sizeof(buf) - o,
		    &len) != EPSIP_MSG_OK) {
			fprintf(stderr, "gen_corpus: batch\n");
			exit(1);
		}
		o += len;
	}
	add(&s, buf, o);
	put("ipc", "batch-of-3", &s);

	fm_ctl_init(&c, FM_CTL_NEW_STREAM_FLOW);
	c.slot = 20;
	c.generation = 1002;
	c.listener = 1;
	c.transport = EPSIP_TRANSPORT_TLS;
	c.local = flows[2].flow.local;
	c.remote = flows[2].flow.remote;
	c.arrived_ms = 86400123;
	start(&s, 2);
	(void)fm_ctl_encode(&c, buf, sizeof(buf), &len);
	add(&s, buf, len);
	put("ipc", "control-new-stream-flow", &s);
	fm_ctl_init(&c, FM_CTL_UDP_DATAGRAM);
	c.slot = 10;
	c.generation = 1001;
	c.local = flows[4].flow.local;
	c.remote = flows[4].flow.remote;
	c.payload = (const uint8_t *)"\x00\x01\x00\x00" STUN_COOKIE STUN_TXID;
	c.payload_len = 20;
	start(&s, 2);
	(void)fm_ctl_encode(&c, buf, sizeof(buf), &len);
	add(&s, buf, len);
	put("ipc", "control-udp-datagram", &s);
	fm_ctl_init(&c, FM_CTL_FLOW_CLOSED);
	c.slot = 10;
	c.generation = 1001;
	c.reason = EPSIP_CLOSE_PEER;
	start(&s, 2);
	(void)fm_ctl_encode(&c, buf, sizeof(buf), &len);
	add(&s, buf, len);
	put("ipc", "control-flow-closed", &s);
}

/* ---- ws ---- */

/* What Chromium sent for `new WebSocket("ws://127.0.0.1:8080/", "sip")`. */
#define CHROMIUM_REQUEST \
	"GET / HTTP/1.1\r\n" \
	"Host: 127.0.0.1:8080\r\n" \
	"Connection: Upgrade\r\n" \
	"Pragma: no-cache\r\n" \
	"Cache-Control: no-cache\r\n" \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 " \
	"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n" \
	"Upgrade: websocket\r\n" \
	"Origin: http://127.0.0.1:8080\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Accept-Encoding: gzip, deflate, br\r\n" \
	"Accept-Language: en-US,en;q=0.9\r\n" \
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate; " \
	"client_max_window_bits\r\n" \
	"Sec-WebSocket-Protocol: sip\r\n" \
	"\r\n"

/* A masked client frame (RFC 6455 §5.2, §5.3). */
static void
add_frame(struct seed *s, int fin, uint8_t opcode, const void *payload,
    size_t len)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	const uint8_t *p = payload;

	add_u8(s, (uint8_t)((fin ? 0x80 : 0) | opcode));
	if (len <= 125) {
		add_u8(s, (uint8_t)(0x80 | len));
	} else if (len <= 0xffff) {
		add_u8(s, 0x80 | 126);
		add_u8(s, (uint8_t)(len >> 8));
		add_u8(s, (uint8_t)len);
	} else {
		add_u8(s, 0x80 | 127);
		for (int i = 7; i >= 0; i--) {
			add_u8(s, (uint8_t)((uint64_t)len >> (8 * i)));
		}
	}
	add(s, key, 4);
	for (size_t i = 0; i < len; i++) {
		add_u8(s, p[i] ^ key[i & 3]);
	}
}

static void
ws_seeds(const char *sip_dir)
{
	static const char reg[] = REGISTER_TEXT("WSS",
	    "df7jal23ls0d.invalid;transport=ws");
	static const struct {
		const char *name;
		const char *request;
	} refused[] = {
		{ "refused-post", "POST / HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ "refused-http10", "GET / HTTP/1.0\r\nHost: a\r\n\r\n" },
		{ "refused-no-key", "GET / HTTP/1.1\r\nHost: a\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Version: 13\r\n"
		    "Sec-WebSocket-Protocol: sip\r\n\r\n" },
		{ "refused-version-8", "GET / HTTP/1.1\r\nHost: a\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Version: 8\r\n"
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Protocol: sip\r\n\r\n" },
		{ "refused-no-sip", "GET /ws HTTP/1.1\r\nHost: a\r\n"
		    "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
		    "Sec-WebSocket-Version: 13\r\n"
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Protocol: chat\r\n\r\n" },
	};
	char path[512], invite[8192];
	struct seed s;
	size_t ilen;

	snprintf(path, sizeof(path), "%s/flow-tcp-jssip-invite.sip", sip_dir);
	ilen = read_file(path, invite, sizeof(invite));

	/* Byte 0: bits 0-1 max_message, bit 2 origins, bit 3 upgraded. */
	start(&s, 0);
	add_str(&s, CHROMIUM_REQUEST);
	add_frame(&s, 1, 1, reg, strlen(reg));
	add_frame(&s, 1, 9, "ping", 4);
	add_frame(&s, 0, 1, invite, 200);
	add_frame(&s, 1, 10, "", 0);
	add_frame(&s, 0, 0, invite + 200, 300);
	add_frame(&s, 1, 0, invite + 500, ilen - 500);
	add_frame(&s, 1, 1, "\r\n\r\n", 4);
	add_frame(&s, 1, 8, "\x03\xe8" "bye", 5);
	put("ws", "chromium-register-invite-close", &s);

	start(&s, 4);
	add_str(&s, CHROMIUM_REQUEST);
	add_frame(&s, 1, 1, invite, ilen);
	put("ws", "origin-allowed-invite", &s);

	start(&s, 4);
	add(&s, CHROMIUM_REQUEST, strstr(CHROMIUM_REQUEST, "Origin") -
	    CHROMIUM_REQUEST);
	add_str(&s, "Origin: https://evil.example.net\r\n");
	add_str(&s, strstr(CHROMIUM_REQUEST, "Sec-WebSocket-Version"));
	put("ws", "origin-refused", &s);

	start(&s, 8);
	add_frame(&s, 1, 2, reg, strlen(reg));
	add_frame(&s, 1, 1, invite, ilen);
	add_frame(&s, 1, 10, "pong", 4);
	add_frame(&s, 1, 8, "", 0);
	put("ws", "open-binary-register-close", &s);

	start(&s, 3);
	add_str(&s, CHROMIUM_REQUEST);
	add_frame(&s, 1, 1, reg, strlen(reg));
	put("ws", "max64-too-big", &s);

	start(&s, 8);
	add_frame(&s, 1, 1, "\xc3\x28 not utf-8", 12);
	put("ws", "open-text-not-utf8", &s);

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		start(&s, 0);
		add_str(&s, refused[i].request);
		put("ws", refused[i].name, &s);
	}
}

int
main(int argc, char **argv)
{
	const char *sip_dir = argc > 2 ? argv[2] : "tests/corpus";

	if (argc < 2) {
		fprintf(stderr,
		    "usage: gen_corpus OUT_DIR [SIP_CORPUS_DIR]\n");
		return (2);
	}
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) == -1 && errno != EEXIST) {
		die(out_dir);
	}
	fuzz_router_setup();
	router_seeds(sip_dir);
	sip_frame_seeds(sip_dir);
	udp_stun_seeds(sip_dir);
	flow_token_seeds();
	ipc_seeds();
	ws_seeds(sip_dir);
	router_free(&routers[0]);
	router_free(&routers[1]);
	return (0);
}
