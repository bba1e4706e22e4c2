/* Which names this server answers to.
 *
 * A page on any web site can make a visitor's browser talk to luobo once
 * its own DNS name resolves to luobo's address (DNS rebinding): the browser
 * then sends that site's name as Host and treats luobo's answers as the
 * site's own.  So every request must name this machine in Host: one of its
 * addresses (getifaddrs, looked up again when an unknown address shows up,
 * as DHCP may add one at any time), its host name, localhost, the loopback
 * addresses, or a name listed in [webui] server_names.  A WebSocket's Origin
 * must name such a host too, and an explicit port in it must be the one the
 * client reached us on, so that neither another site nor another service on
 * this machine can open the events socket with a visitor's session cookie. */
#include "webui_priv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "lb_clock.h"

#define IFADDRS_REFRESH_US 2000000   /* at most one lookup per 2 s on misses */

#define HOST_OFF(field) offsetof(webui_host_settings, field)

const lb_option lb_webui_host_options[] = {
    { "server_names", LB_OPT_STRING, HOST_OFF(server_names),
      sizeof(((webui_host_settings *)0)->server_names), NULL, 0, 0, NULL,
      "more names or addresses the UI is reached by, comma separated (a proxy's public name); "
      "the machine's addresses and host name, localhost, 127.0.0.1 and [::1] always work; "
      "* accepts any Host (no DNS rebinding protection)" },
    { NULL },
};

/* A name as it may appear in Host: letters, digits, '-', '.', '_'. */
static int name_is_plain(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
            return 0;
    return 1;
}

/* Splits "name", "name:port", "[v6]" or "[v6]:port" into a lower-case host
 * without a trailing dot and a port (0 when absent).  Returns 0, or -1 when
 * the text is not a host. */
static int split_host(const char *in, char *host, size_t host_size, int *port)
{
    const char *end, *colon;
    int bracketed = in && in[0] == '[';
    size_t len;

    *port = 0;
    if (!in || !*in)
        return -1;
    if (bracketed) {
        if (!(end = strchr(in, ']')))
            return -1;
        len = (size_t)(end - in - 1);
        colon = end[1] ? end + 1 : NULL;
        if (colon && *colon != ':')
            return -1;
        in++;
    } else {
        colon = strchr(in, ':');
        if (colon && strchr(colon + 1, ':'))
            return -1;              /* an IPv6 address must be in brackets */
        len = colon ? (size_t)(colon - in) : strlen(in);
    }
    if (!len || len >= host_size)
        return -1;
    for (size_t i = 0; i < len; i++)
        host[i] = (char)tolower((unsigned char)in[i]);
    host[len] = 0;
    char *zone = strchr(host, '%');
    if (zone && bracketed)
        *zone = 0;                  /* fe80::1%eth0: the zone is the client's business */
    if (bracketed) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return -1;
    }
    if (len > 1 && host[len - 1] == '.')
        host[len - 1] = 0;
    if (colon) {
        const char *p = colon + 1;
        char *e;
        if (!*p || strlen(p) > 5)
            return -1;
        for (const char *q = p; *q; q++)
            if (!isdigit((unsigned char)*q))
                return -1;
        long v = strtol(p, &e, 10);
        if (v < 1 || v > 65535)
            return -1;
        *port = (int)v;
    }
    if (!bracketed && !name_is_plain(host))
        return -1;
    return 0;
}

/* host as an address: 4 or 16 bytes in out, IPv4-mapped IPv6 as IPv4. */
static int parse_addr(const char *host, unsigned char out[16], int *family)
{
    if (inet_pton(AF_INET, host, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, out) == 1) {
        static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (!memcmp(out, mapped, 12)) {
            memmove(out, out + 12, 4);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

static int addr_is_loopback(const unsigned char *a, int family)
{
    static const unsigned char v6[16] = { [15] = 1 };
    return family == AF_INET ? a[0] == 127 : !memcmp(a, v6, 16);
}

static void refresh_ifaddrs(lb_webui *w)
{
    struct ifaddrs *list = NULL;
    w->nb_if_addrs = 0;
    w->if_addrs_us = lb_clock_now();
    if (getifaddrs(&list) < 0)
        return;
    for (struct ifaddrs *i = list; i && w->nb_if_addrs < WEBUI_MAX_IF_ADDRS; i = i->ifa_next) {
        webui_addr *a = &w->if_addrs[w->nb_if_addrs];
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            memcpy(a->bytes, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
            a->family = AF_INET;
            w->nb_if_addrs++;
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            memcpy(a->bytes, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
            a->family = AF_INET6;
            w->nb_if_addrs++;
        }
    }
    freeifaddrs(list);
}

static int addr_in(const webui_addr *list, int n, const unsigned char *a, int family)
{
    for (int i = 0; i < n; i++)
        if (list[i].family == family && !memcmp(list[i].bytes, a, family == AF_INET ? 4 : 16))
            return 1;
    return 0;
}

int webui_hosts_configure(lb_webui *w, const lb_config_section *sec, char *err, size_t err_size)
{
    char list[sizeof w->host_settings.server_names], *save = NULL, hostname[256];
    int ret;

    if ((ret = lb_config_apply(sec, lb_webui_host_options, &w->host_settings, err, err_size)) < 0)
        return ret;
    w->nb_names = 0;
    w->nb_name_addrs = 0;
    w->any_host = 0;
    snprintf(w->names[w->nb_names++], sizeof w->names[0], "localhost");
    if (!gethostname(hostname, sizeof hostname) && name_is_plain(hostname) &&
        strlen(hostname) + 7 < sizeof w->names[0]) {
        for (char *p = hostname; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        snprintf(w->names[w->nb_names++], sizeof w->names[0], "%s", hostname);
        if (!strchr(hostname, '.'))
            snprintf(w->names[w->nb_names++], sizeof w->names[0], "%s.local", hostname);
    }
    snprintf(list, sizeof list, "%s", w->host_settings.server_names);
    for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        char host[256];
        unsigned char a[16];
        int port, family;
        if (!strcmp(tok, "*")) {
            w->any_host = 1;
            continue;
        }
        if (split_host(tok, host, sizeof host, &port) < 0 || port) {
            lb_config_error(sec, "server_names", err, err_size,
                            "'%s' is not a host name or address (no port, no scheme)", tok);
            return AVERROR(EINVAL);
        }
        if (!parse_addr(host, a, &family)) {
            if (w->nb_name_addrs == WEBUI_MAX_NAMES)
                goto too_many;
            w->name_addrs[w->nb_name_addrs].family = family;
            memcpy(w->name_addrs[w->nb_name_addrs++].bytes, a, 16);
        } else {
            if (w->nb_names == WEBUI_MAX_NAMES)
                goto too_many;
            snprintf(w->names[w->nb_names++], sizeof w->names[0], "%s", host);
        }
    }
    refresh_ifaddrs(w);
    return 0;
too_many:
    lb_config_error(sec, "server_names", err, err_size, "more than %d names", WEBUI_MAX_NAMES - 3);
    return AVERROR(EINVAL);
}

/* 1 if host (already split, lower case) names this server. */
static int host_is_ours(lb_webui *w, const char *host)
{
    unsigned char a[16];
    int family;

    if (w->any_host)
        return 1;
    if (!parse_addr(host, a, &family)) {
        if (addr_is_loopback(a, family) || addr_in(w->name_addrs, w->nb_name_addrs, a, family) ||
            addr_in(w->if_addrs, w->nb_if_addrs, a, family))
            return 1;
        if (lb_clock_now() - w->if_addrs_us < IFADDRS_REFRESH_US)
            return 0;
        refresh_ifaddrs(w);
        return addr_in(w->if_addrs, w->nb_if_addrs, a, family);
    }
    for (int i = 0; i < w->nb_names; i++)
        if (!strcmp(w->names[i], host))
            return 1;
    return 0;
}

int webui_host_allowed(lb_webui *w, const char *host_header, char *why, size_t why_size)
{
    char host[256];
    int port;

    if (!host_header || !*host_header) {
        snprintf(why, why_size, "the Host header is required");
        return 0;
    }
    if (split_host(host_header, host, sizeof host, &port) < 0) {
        snprintf(why, why_size, "bad Host header");
        return 0;
    }
    if (!host_is_ours(w, host)) {
        snprintf(why, why_size, "unknown host '%s': reach this server by its address or list "
                 "the name in [webui] server_names", host);
        return 0;
    }
    return 1;
}

int webui_origin_allowed(lb_webui *w, const char *origin, const char *host_header, char *why,
                         size_t why_size)
{
    char host[256], ohost[256];
    int port, oport, def;

    if (!origin || !*origin)
        return 1;                   /* not a browser: browsers always send Origin */
    if (!strncmp(origin, "http://", 7)) {
        def = 80;
        origin += 7;
    } else if (!strncmp(origin, "https://", 8)) {
        def = 443;
        origin += 8;
    } else {
        snprintf(why, why_size, "foreign origin");
        return 0;
    }
    if (split_host(origin, ohost, sizeof ohost, &oport) < 0 || !host_is_ours(w, ohost) ||
        split_host(host_header, host, sizeof host, &port) < 0) {
        snprintf(why, why_size, "foreign origin");
        return 0;
    }
    /* server_names = * trusts every Host, so the Origin must at least be
     * the page the request names. */
    if (w->any_host && strcmp(ohost, host)) {
        snprintf(why, why_size, "foreign origin (not the Host)");
        return 0;
    }
    /* The Origin's port, explicit or the scheme's, must be the request's:
     * another service on this machine (on 80 or 443 too) is another origin,
     * and cookies do not tell ports apart.  A Host without a port is a
     * request through a proxy on the scheme's own port. */
    if ((oport ? oport : def) != (port ? port : def)) {
        snprintf(why, why_size, "foreign origin (another port)");
        return 0;
    }
    return 1;
}
