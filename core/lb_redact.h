/* Redaction: credentials never leave the process.
 *
 * Camera and platform URLs carry secrets (rtsp://user:pass@..., srt://...?
 * passphrase=..., https://token@...).  Every text that leaves luobo (log
 * lines, the status and its last_error strings, events, /metrics, API
 * errors, files in the data folder, config errors) goes through
 * lb_redact_text(), which replaces:
 *
 *   - a URL's password: scheme://user:***@host (a userinfo without a
 *     password, often a token, becomes ***@host); IPv6 hosts and
 *     passwords with a raw '@' or '/' are understood;
 *   - the value of a secret parameter, in a URL's query or anywhere in the
 *     text as name=value: passphrase=***, password=***, token=***, key=***,
 *     secret=***; a name is secret when it ends (case-insensitively) with
 *     pass, passwd, password, passphrase, pwd, secret, token, key, auth,
 *     sig, signature or credential(s) (so streamkey and access_token are,
 *     pbkeylen and keyint are not);
 *   - user:pass@host written without a scheme (a malformed URL): user:***@;
 *   - a URL cut short inside its password (text that was truncated before
 *     it was redacted: user:sec at the very end): user:***.  Redact before
 *     cutting (lb_redact_format) wherever a text is formatted.
 *
 * What it never does: copy a character of a secret.  The replacement "***"
 * never contains a quote or a backslash and a secret never spans one, so
 * the text of a JSON document stays valid JSON.  Thread-safe. */
#ifndef LB_REDACT_H
#define LB_REDACT_H

#include <stdarg.h>
#include <stddef.h>

/* Writes text with its secrets replaced into dst (size bytes, always
 * terminated when size > 0, cut short when it does not fit; a cut never
 * shows part of a secret).  dst and text must not overlap.  Returns the
 * length written. */
size_t lb_redact_text(char *dst, size_t size, const char *text);

/* The same, for one URL (a config value): lb_redact_text under the name
 * that says what the caller holds. */
static inline size_t lb_redact_url(char *dst, size_t size, const char *url)
{
    return lb_redact_text(dst, size, url);
}

/* Redacts buf (a terminated string in size bytes) in place; the result is
 * cut short to size when the replacements make it longer.  Returns 1 when
 * something was replaced. */
int lb_redact_in_place(char *buf, size_t size);

/* snprintf, then lb_redact_text into dst: the text is formatted whole
 * before it is cut to size, so a secret cut in two is still seen.  Returns
 * the length written. */
size_t lb_redact_format(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t lb_redact_vformat(char *dst, size_t size, const char *fmt, va_list ap);

/* A redacted copy of text in a new buffer the caller frees (a plain copy
 * when there is nothing to replace); NULL when text is NULL or memory runs
 * out. */
char *lb_redact_dup(const char *text);

/* 1 when text holds something lb_redact_text would replace. */
int lb_redact_needed(const char *text);

#endif
