/*
 * registrar_contact.c -- one Contact of a REGISTER, checked and normalised.
 *
 * Extracts what a binding needs from a Contact header value: the URI, the
 * whole value minus `expires` (RG-09 stores every other parameter), the
 * +sip.instance URN in comparable form (RG-13), the reg-id (ER-07, RG-05),
 * the requested expiry (RG-21) and q.  Malformed outbound parameters are a
 * 400: a binding silently keyed wrong would misroute calls.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_parser.h>

#include "epsip/sip_util.h"

#include "../rb_sip.h"
#include "registrar.h"

#define REG_ID_MAX	2147483647L	/* RFC 5626 §4.2: 1 to 2^31-1 */

/*
 * A string of decimal digits only: its value, or -1 when it is empty or
 * holds anything else.  The value stops growing past 2^40, so that a long
 * run of digits is a large number, not an overflow.
 */
static int64_t
parse_decimal(const char *s)
{
	int64_t v = 0;

	if (s == NULL || *s == '\0') {
		return (-1);
	}
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s)) {
			return (-1);
		}
		if (v < (int64_t)1 << 40) {
			v = v * 10 + (*s - '0');
		}
	}
	return (v);
}

int64_t
registrar_parse_seconds(const char *s)
{
	return (parse_decimal(s));
}

/* RFC 3261 §25.1 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]. */
static int
parse_q(const char *s)
{
	int v, scale;

	if (s == NULL || (s[0] != '0' && s[0] != '1')) {
		return (-1);
	}
	v = (s[0] - '0') * 1000;
	s++;
	if (*s == '\0') {
		return (v);
	}
	if (*s++ != '.') {
		return (-1);
	}
	for (scale = 100; *s != '\0'; s++, scale /= 10) {
		if (!isdigit((unsigned char)*s) || scale == 0) {
			return (-1);
		}
		v += (*s - '0') * scale;
	}
	return (v > 1000 ? -1 : v);
}

static int
parse_reg_id(const char *s, uint32_t *out)
{
	int64_t v = parse_decimal(s);

	if (v < 1 || v > REG_ID_MAX) {
		return (-1);
	}
	*out = (uint32_t)v;
	return (0);
}

int
registrar_instance_normalise(const char *param, char *out, size_t cap)
{
	size_t len, i, n, colon2;
	const char *in;
	int is_uuid;

	/* RFC 5626 §4.1: +sip.instance="<urn:...>", quotes included. */
	len = param != NULL ? strlen(param) : 0;
	if (len < 5 || param[0] != '"' || param[1] != '<' ||
	    param[len - 2] != '>' || param[len - 1] != '"') {
		return (-1);
	}
	in = param + 2;
	n = len - 4;
	if (n + 1 > cap) {
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (in[i] == '"' || in[i] == '<' || in[i] == '>' ||
		    isspace((unsigned char)in[i]) || in[i] == '\0') {
			return (-1);
		}
		out[i] = in[i];
	}
	out[n] = '\0';
	if (n < 4 || strncasecmp(out, "urn:", 4) != 0) {
		/* Not a URN: compared as an opaque string. */
		return (0);
	}
	/*
	 * RFC 8141 §3: "urn" and the NID are case-insensitive, so is the
	 * hex of %-escapes; RFC 4122 §3 makes a UUID's hex case-insensitive,
	 * so all of urn:uuid folds to lower case (RG-13).
	 */
	colon2 = 4;
	while (colon2 < n && out[colon2] != ':') {
		colon2++;
	}
	for (i = 0; i < colon2; i++) {
		out[i] = (char)tolower((unsigned char)out[i]);
	}
	is_uuid = colon2 == 8 && strncmp(out, "urn:uuid", 8) == 0;
	for (i = colon2; i < n; i++) {
		if (is_uuid) {
			out[i] = (char)tolower((unsigned char)out[i]);
		} else if (out[i] == '%' && i + 2 < n) {
			out[i + 1] = (char)tolower((unsigned char)out[i + 1]);
			out[i + 2] = (char)tolower((unsigned char)out[i + 2]);
			i += 2;
		}
	}
	return (0);
}

/* The Contact value with every `expires` parameter removed, malloc'ed. */
static char *
value_without_expires(const osip_contact_t *contact)
{
	osip_contact_t *copy;
	char *s, *text;
	int i;

	if (osip_contact_clone(contact, &copy) != 0) {
		return (NULL);
	}
	for (i = 0; i < osip_list_size(&copy->gen_params);) {
		osip_generic_param_t *p = osip_list_get(&copy->gen_params, i);

		if (p->gname != NULL && strcasecmp(p->gname, "expires") == 0) {
			osip_list_remove(&copy->gen_params, i);
			osip_generic_param_free(p);
		} else {
			i++;
		}
	}
	text = NULL;
	if (osip_contact_to_str(copy, &s) == 0) {
		text = strdup(s);
		osip_free(s);
	}
	osip_contact_free(copy);
	return (text);
}

int
registrar_contact_parse(const osip_contact_t *contact, int64_t header_expires,
    unsigned default_expires, struct registrar_contact *out,
    const char **reason)
{
	const char *instance, *reg_id, *expires, *q;
	int64_t e;

	memset(out, 0, sizeof(*out));
	out->contact = contact;
	out->q1000 = 1000;
	if (contact->url == NULL) {
		*reason = "Bad Contact";
		return (400);
	}
	if ((out->uri = rb_uri_text(contact->url)) == NULL ||
	    (out->value = value_without_expires(contact)) == NULL) {
		*reason = "Bad Contact";
		goto fail;
	}

	if (sip_generic_param_count(&contact->gen_params,
	    "+sip.instance") > 1) {
		*reason = "Duplicate +sip.instance";
		goto fail;
	}
	instance = sip_generic_param(&contact->gen_params, "+sip.instance");
	if (instance != NULL && registrar_instance_normalise(instance,
	    out->instance, sizeof(out->instance)) != 0) {
		*reason = "Bad +sip.instance";	/* ER-07 */
		goto fail;
	}

	/*
	 * RG-05: reg-id without +sip.instance is ignored -- not checked
	 * either, since it carries no meaning for this binding.
	 */
	if (out->instance[0] != '\0') {
		if (sip_generic_param_count(&contact->gen_params,
		    "reg-id") > 1) {
			*reason = "Duplicate reg-id";	/* ER-07 */
			goto fail;
		}
		reg_id = sip_generic_param(&contact->gen_params, "reg-id");
		if (reg_id != NULL && parse_reg_id(reg_id, &out->reg_id) != 0) {
			*reason = "Bad reg-id";		/* ER-07 */
			goto fail;
		}
	}

	/*
	 * RG-21, RFC 3261 §10.3(7): the contact's expires, else the Expires
	 * header, else our default.  A malformed value counts as absent
	 * (RFC 3261 §20.19 lets us pick the default).
	 */
	expires = sip_generic_param(&contact->gen_params, "expires");
	e = registrar_parse_seconds(expires);
	if (e < 0) {
		e = header_expires >= 0 ? header_expires :
		    (int64_t)default_expires;
	}
	out->expires = e;

	q = sip_generic_param(&contact->gen_params, "q");
	if (q != NULL && (out->q1000 = parse_q(q)) < 0) {
		*reason = "Bad q";
		goto fail;
	}
	return (0);
fail:
	registrar_contact_clear(out);
	return (400);
}

void
registrar_contact_clear(struct registrar_contact *rc)
{
	free(rc->uri);
	free(rc->value);
	rc->uri = NULL;
	rc->value = NULL;
}
