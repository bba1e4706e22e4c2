/* Design note: HTTPS for the web UI.
 *
 * [webui] tls chooses one of three set-ups: off (plain HTTP on http_port, as
 * the demo and the tests run), on (the operator's certificate) and auto (the
 * operator's certificate if any, else one we make).  With TLS the context
 * has two vhosts: HTTPS on https_port, and plain HTTP on http_port that
 * answers every request with a 301 to the same path over HTTPS, except
 * /live/ for HLS players when the viewer page is public and plain_live is
 * set.  WebSocket upgrades on the plain listener are refused.
 *
 * auto's certificate is self-signed, ECDSA P-256, valid 10 years, naming
 * the host name, localhost, 127.0.0.1, ::1 and the machine's addresses, in
 * DATA_DIR/.luobo-tls.{crt,key} (key 0600).  It is reused while it reads
 * back, matches its key and is not about to expire; otherwise it is made
 * again, with a log line saying why.  A reused certificate that misses a
 * name the machine has now (a new address) is kept, since browsers were
 * told to trust this very one; the log says how to get a new one.
 *
 * HSTS would pin browsers to a certificate they will keep warning about,
 * and outlive a change back to plain HTTP; it is sent only with a
 * certificate that is not self-signed. */
#include "webui_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/error.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lb_file.h"
#include "lb_log.h"

#define CERT_DAYS          3650
#define RENEW_BEFORE_S     (30 * 86400)    /* make a new one this close to expiry */
#define MAX_NAMES          64
#define HSTS_MAX_AGE_S     31536000

/* ---- configuration (no I/O) ---- */

/* [webui] key, or its older name in [auth]; both set must agree. */
static int alias(const lb_config_section *tls_sec, const char *key, char *dst, size_t size,
                 const char *old, char *err, size_t err_size)
{
    if (dst[0] && old[0] && strcmp(dst, old)) {
        lb_config_error(tls_sec, key, err, err_size,
                        "differs from [auth] %s (its older name): set it in one place", key);
        return AVERROR(EINVAL);
    }
    if (!dst[0])
        snprintf(dst, size, "%s", old);
    return 0;
}

int webui_tls_configure(lb_webui *w, const lb_config_section *tls_sec,
                        const lb_config_section *auth_sec, char *err, size_t err_size)
{
    webui_tls_settings *t = &w->tls_settings;
    const webui_auth_settings *a = &w->auth_settings;
    const lb_config_section *sec = tls_sec ? tls_sec : auth_sec;
    int ret;

    if ((ret = alias(tls_sec, "tls_cert", t->tls_cert, sizeof t->tls_cert, a->tls_cert, err,
                     err_size)) < 0 ||
        (ret = alias(tls_sec, "tls_key", t->tls_key, sizeof t->tls_key, a->tls_key, err,
                     err_size)) < 0)
        return ret;
    if (!!t->tls_cert[0] != !!t->tls_key[0]) {
        const char *missing = t->tls_cert[0] ? "tls_key" : "tls_cert";
        const char *given = t->tls_cert[0] ? "tls_cert" : "tls_key";
        const lb_config_section *where =
            tls_sec && lb_config_get(tls_sec, given) ? tls_sec : auth_sec;
        lb_config_error(where, missing, err, err_size, "tls_cert and tls_key go together");
        return AVERROR(EINVAL);
    }
    int mode = t->tls;
    if (mode == WEBUI_TLS_DEFAULT)
        mode = t->tls_cert[0] ? WEBUI_TLS_ON : WEBUI_TLS_OFF;
    if (mode == WEBUI_TLS_ON && !t->tls_cert[0]) {
        lb_config_error(sec, "tls", err, err_size,
                        "'on' needs tls_cert and tls_key (or tls = auto for a self-signed "
                        "certificate)");
        return AVERROR(EINVAL);
    }
    if (t->plain_live && !a->public_viewer) {
        lb_config_error(sec, "plain_live", err, err_size,
                        "needs [auth] public_viewer = true (a login cannot ride on plain HTTP)");
        return AVERROR(EINVAL);
    }
    w->tls = mode != WEBUI_TLS_OFF;
    if (!w->tls) {
        if (t->tls_cert[0])
            LB_LOGW("webui", "tls = off: tls_cert and tls_key are not used");
        return 0;
    }
    if (t->https_port && t->https_port == w->http.http_port) {
        lb_config_error(sec, "https_port", err, err_size,
                        "must differ from [general] http_port (%d), which redirects to it",
                        w->http.http_port);
        return AVERROR(EINVAL);
    }
    w->tls_generated = !t->tls_cert[0];
    if (w->tls_generated) {
        snprintf(w->tls_cert, sizeof w->tls_cert, "%s/%s", w->data_dir, WEBUI_TLS_CERT_NAME);
        snprintf(w->tls_key, sizeof w->tls_key, "%s/%s", w->data_dir, WEBUI_TLS_KEY_NAME);
    } else {
        snprintf(w->tls_cert, sizeof w->tls_cert, "%s", t->tls_cert);
        snprintf(w->tls_key, sizeof w->tls_key, "%s", t->tls_key);
    }
    return 0;
}

/* ---- certificates ---- */

static void ssl_error(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, size);
    else
        snprintf(buf, size, "no PEM data");
    ERR_clear_error();
}

static void fingerprint(X509 *x, char *out, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t n = 0;
    out[0] = 0;
    if (!X509_digest(x, EVP_sha256(), md, &len))
        return;
    for (unsigned int i = 0; i < len && n + 3 < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%02X", i ? ":" : "", md[i]);
}

/* Reads a certificate and its key; 0, or -1 with why (for the log). */
static int load_pair(const char *cert_path, const char *key_path, X509 **px, EVP_PKEY **pk,
                     char *why, size_t why_size)
{
    char ssl[256];
    FILE *f;

    *px = NULL;
    *pk = NULL;
    if (!(f = fopen(cert_path, "r"))) {
        snprintf(why, why_size, "%s: %s", cert_path, strerror(errno));
        goto fail;
    }
    *px = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!*px) {
        ssl_error(ssl, sizeof ssl);
        snprintf(why, why_size, "%s: not a PEM certificate (%s)", cert_path, ssl);
        goto fail;
    }
    if (!(f = fopen(key_path, "r"))) {
        snprintf(why, why_size, "%s: %s", key_path, strerror(errno));
        goto fail;
    }
    *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!*pk) {
        ssl_error(ssl, sizeof ssl);
        snprintf(why, why_size, "%s: not a PEM private key (%s)", key_path, ssl);
        goto fail;
    }
    if (X509_check_private_key(*px, *pk) != 1) {
        ERR_clear_error();
        snprintf(why, why_size, "%s is not the key of %s", key_path, cert_path);
        goto fail;
    }
    return 0;
fail:
    X509_free(*px);
    EVP_PKEY_free(*pk);
    *px = NULL;
    *pk = NULL;
    return -1;
}

typedef struct names {
    char name[MAX_NAMES][64];
    int is_ip[MAX_NAMES];
    int nb;
} names;

static void add_name(names *n, const char *name, int is_ip)
{
    if (n->nb == MAX_NAMES || !*name || strlen(name) >= sizeof n->name[0])
        return;
    for (int i = 0; i < n->nb; i++)
        if (!strcmp(n->name[i], name))
            return;
    snprintf(n->name[n->nb], sizeof n->name[0], "%s", name);
    n->is_ip[n->nb++] = is_ip;
}

/* What a browser on the network may put in the address bar. */
static void machine_names(names *n)
{
    char host[256];
    struct ifaddrs *ifs = NULL;

    memset(n, 0, sizeof *n);
    if (!gethostname(host, sizeof host)) {
        host[sizeof host - 1] = 0;
        if (host[0] && strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-.") == strlen(host)) {
            add_name(n, host, 0);
            if (!strchr(host, '.')) {            /* mDNS (avahi) names the host so */
                strncat(host, ".local", sizeof host - strlen(host) - 1);
                add_name(n, host, 0);
            }
        }
    }
    add_name(n, "localhost", 0);
    add_name(n, "127.0.0.1", 1);
    add_name(n, "::1", 1);
    if (getifaddrs(&ifs) < 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        char ip[INET6_ADDRSTRLEN];
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)i->ifa_addr;
            if (inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip))
                add_name(n, ip, 1);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)i->ifa_addr;
            /* A link-local address needs a zone in the URL, which no
             * certificate can name. */
            if (!IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) &&
                inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip))
                add_name(n, ip, 1);
        }
    }
    freeifaddrs(ifs);
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int make_cert(const names *n, X509 **px, EVP_PKEY **pk)
{
    char san[MAX_NAMES * 72];
    size_t len = 0;
    BIGNUM *serial = NULL;
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    X509V3_CTX v3;
    int ret = -1;

    for (int i = 0; i < n->nb; i++)
        len += (size_t)snprintf(san + len, sizeof san - len, "%s%s:%s", i ? "," : "",
                                n->is_ip[i] ? "IP" : "DNS", n->name[i]);
    if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) || !(x = X509_new()) ||
        !(serial = BN_new()) || !X509_set_version(x, X509_VERSION_3) ||
        !BN_rand(serial, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
        /* an hour back: a client whose clock runs a little behind accepts it */
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) ||
        !X509_set_pubkey(x, key))
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"luobo",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)n->name[0], -1, -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto fail;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    /* A leaf, not a CA: browsers refuse a CA certificate as a server's. */
    if (add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") < 0 ||
        add_ext(x, &v3, NID_ext_key_usage, "serverAuth") < 0 ||
        add_ext(x, &v3, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(x, &v3, NID_subject_alt_name, san) < 0 ||
        !X509_sign(x, key, EVP_sha256()))
        goto fail;
    *px = x;
    *pk = key;
    x = NULL;
    key = NULL;
    ret = 0;
fail:
    BN_free(serial);
    X509_free(x);
    EVP_PKEY_free(key);
    return ret;
}

/* Replaced atomically and durably (lb_write_file_atomic): a reader never
 * sees half, a power cut leaves the old or the new one. */
static int write_pem(const char *path, mode_t mode, X509 *x, EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    int ret = AVERROR(ENOMEM);
    if (!b)
        return ret;
    if (x ? PEM_write_bio_X509(b, x) : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
        long len = BIO_get_mem_data(b, &data);
        ret = len > 0 ? lb_write_file_atomic(path, data, (size_t)len, (int)mode) : AVERROR(EIO);
    }
    BIO_free(b);
    return ret;
}

/* tls = auto without a configured certificate: reuse ours or make one. */
static int self_signed(lb_webui *w, X509 **px, char *err, size_t err_size)
{
    char why[PATH_MAX + 256] = "";
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    struct stat st;
    names n;
    int ret;

    machine_names(&n);
    int cert_there = access(w->tls_cert, F_OK) == 0, key_there = access(w->tls_key, F_OK) == 0;
    if ((cert_there || key_there) && load_pair(w->tls_cert, w->tls_key, &x, &key, why,
                                               sizeof why) == 0) {
        time_t soon = time(NULL) + RENEW_BEFORE_S;
        if (X509_cmp_time(X509_get0_notAfter(x), &soon) < 0) {
            snprintf(why, sizeof why, "%s expires within %d days", w->tls_cert,
                     RENEW_BEFORE_S / 86400);
            X509_free(x);
            EVP_PKEY_free(key);
            x = NULL;
            key = NULL;
        }
    }
    if (x) {
        EVP_PKEY_free(key);
        if (!stat(w->tls_key, &st) && (st.st_mode & 077)) {
            LB_LOGW("webui", "%s was readable by others: mode set to 0600", w->tls_key);
            if (chmod(w->tls_key, 0600) < 0) {
                ret = AVERROR(errno);
                snprintf(err, err_size, "webui: cannot chmod %s: %s", w->tls_key,
                         strerror(errno));
                X509_free(x);
                return ret;
            }
        }
        for (int i = 0; i < n.nb; i++) {
            int ok = n.is_ip[i] ? X509_check_ip_asc(x, n.name[i], 0) == 1
                                : X509_check_host(x, n.name[i], 0, 0, NULL) == 1;
            if (!ok)
                LB_LOGW("webui", "the certificate %s does not name %s (it was made before); "
                        "delete it and its key to make a new one", w->tls_cert, n.name[i]);
        }
        *px = x;
        return 0;
    }
    if (cert_there || key_there)
        LB_LOGW("webui", "self-signed certificate: %s; making a new one", why);
    if (make_cert(&n, &x, &key) < 0) {
        ssl_error(why, sizeof why);
        snprintf(err, err_size, "webui: cannot make a self-signed certificate: %s", why);
        ret = AVERROR(EIO);
        goto fail;
    }
    /* The key first: a crash in between leaves a pair that does not match,
     * which the next start makes again. */
    if ((ret = write_pem(w->tls_key, 0600, NULL, key)) < 0 ||
        (ret = write_pem(w->tls_cert, 0644, x, NULL)) < 0) {
        snprintf(err, err_size, "webui: cannot write %s: %s",
                 access(w->tls_key, F_OK) ? w->tls_key : w->tls_cert, av_err2str(ret));
        goto fail;
    }
    LB_LOGI("webui", "made a self-signed certificate %s for %d names (%s ...), valid %d days",
            w->tls_cert, n.nb, n.name[0], CERT_DAYS);
    EVP_PKEY_free(key);
    *px = x;
    return 0;
fail:
    X509_free(x);
    EVP_PKEY_free(key);
    return ret;
}

int webui_tls_prepare(lb_webui *w, char *err, size_t err_size)
{
    char why[PATH_MAX + 256], fp[EVP_MAX_MD_SIZE * 3 + 1];
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int ret;

    w->tls_hsts = 0;
    if (!w->tls)
        return 0;
    if (w->tls_generated) {
        if ((ret = self_signed(w, &x, err, err_size)) < 0)
            return ret;
    } else {
        if (load_pair(w->tls_cert, w->tls_key, &x, &key, why, sizeof why) < 0) {
            snprintf(err, err_size, "webui: tls_cert/tls_key: %s", why);
            return AVERROR(EINVAL);
        }
        EVP_PKEY_free(key);
        time_t now = time(NULL);
        if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0)
            LB_LOGW("webui", "the certificate %s has expired", w->tls_cert);
        w->tls_hsts = X509_check_issued(x, x) != X509_V_OK;
    }
    fingerprint(x, fp, sizeof fp);
    LB_LOGI("webui", "HTTPS with %s certificate %s, SHA-256 %s",
            w->tls_generated ? "the self-signed" : "the configured", w->tls_cert, fp);
    X509_free(x);
    return 0;
}

/* ---- per request ---- */

static int peer_is_loopback(struct lws *wsi)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = lws_get_socket_fd(wsi);

    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_UNIX)
        return 1;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* The host part of the Host header, or the address the client reached. */
static void request_host(struct lws *wsi, char *host, size_t size)
{
    char h[256] = "";
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = lws_get_socket_fd(wsi);

    if (lws_hdr_total_length(wsi, WSI_TOKEN_HOST) < (int)sizeof h &&
        lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_HOST) > 0 &&
        strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:[]") ==
            strlen(h)) {
        char *end = h[0] == '[' ? strchr(h, ']') : strchr(h, ':');
        if (h[0] == '[' && end)
            end[1] = 0;
        else if (h[0] != '[' && end && !strchr(end + 1, ':'))
            *end = 0;
        else if (h[0] == '[' || end)
            h[0] = 0;                               /* neither name:port nor [v6]:port */
        if (h[0]) {
            snprintf(host, size, "%s", h);
            return;
        }
    }
    snprintf(host, size, "localhost");
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, h, sizeof h);
        snprintf(host, size, "%s", h);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], h, sizeof h);
        else if (inet_ntop(AF_INET6, a, h + 1, sizeof h - 2))
            h[0] = '[', strcat(h, "]");
        snprintf(host, size, "%s", h);
    }
}

/* lws hands us the path and query decoded: encode them again. */
static size_t encode(char *out, size_t size, const char *in, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) || strchr(keep, *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = 0;
    return n;
}

int webui_tls_on_request(lb_webui *w, webui_conn *c, struct lws *wsi)
{
    char host[256], port[16] = "", path[1024], args[1024] = "", query[1024] = "", loc[512];
    int secure = lws_is_ssl(wsi);

    c->insecure_transport = !secure && !peer_is_loopback(wsi);
    if (secure && w->tls_hsts)
        webui_add_header(c, "Strict-Transport-Security", "max-age=%d", HSTS_MAX_AGE_S);
    if (!w->plain_vhost || lws_get_vhost(wsi) != w->plain_vhost)
        return 0;
    if (w->tls_settings.plain_live && w->auth_settings.public_viewer &&
        !strncmp(c->path, "/live/", 6))
        return 0;

    request_host(wsi, host, sizeof host);
    if (w->https_port != 443)
        snprintf(port, sizeof port, ":%d", w->https_port);
    encode(path, sizeof path, c->path, "/!$'()*+,;=:@");
    /* Each argument is a fragment ("x=1"), decoded by lws. */
    size_t qlen = 0;
    for (int i = 0; qlen + 2 < sizeof query &&
                    lws_hdr_copy_fragment(wsi, args, sizeof args, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
         i++) {
        if (i)
            query[qlen++] = '&';
        qlen += encode(query + qlen, sizeof query - qlen, args, "=");
    }
    /* A Location longer than a response header may hold goes to the root
     * rather than to a cut path. */
    if (snprintf(loc, sizeof loc, "https://%s%s%s%s%s", host, port, path, query[0] ? "?" : "",
                 query) >= (int)sizeof loc)
        snprintf(loc, sizeof loc, "https://%s%s/", host, port);
    char *body = NULL;
    if (asprintf(&body, "Moved to %s\n", loc) < 0)
        body = NULL;
    webui_add_header(c, "Location", "%s", loc);
    /* A body we do not read cannot be left in the way of the next request. */
    if ((c->method != WEBUI_GET && c->method != WEBUI_HEAD) ||
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) ||
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING))
        c->close_after = 1;
    webui_respond(c, 301, "text/plain; charset=utf-8", body, body ? strlen(body) : 0);
    return 1;
}

int webui_tls_refuse_upgrade(const lb_webui *w, struct lws *wsi)
{
    return w->plain_vhost && lws_get_vhost(wsi) == w->plain_vhost;
}
