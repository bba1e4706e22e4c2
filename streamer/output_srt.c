/* Design note: the SRT output, with libsrt's own API.
 *
 * libavformat's mpegts muxer writes into our AVIOContext; its write
 * callback cuts the byte stream into 1316-byte payloads (7 TS packets),
 * each sent with srt_sendmsg2 to every connected peer.  The muxer runs
 * whether or not anyone is connected, so the TS (continuity counters,
 * PCR) is one continuous stream that peers join.
 *
 * Joining: a peer (a new listener client, or the caller after a
 * reconnect) starts receiving at the next program-video key frame.  Before
 * writing a key frame we flush the muxer's buffer and ask it to re-emit
 * PAT/PMT, and remember the byte offset where that key frame's data starts;
 * waiting peers are switched on at that offset, so their first payload is
 * PAT, PMT, then an IDR with SPS/PPS.
 *
 * Latency: with low_delay (the default) the muxer's buffer is flushed and
 * the partial payload sent after every video frame, so a frame's last
 * bytes never wait for the next frame (a short payload per frame); and the
 * PES headers carry the video frames' length, so that a receiver's demuxer
 * can hand a frame on when its last byte arrives rather than when the next
 * frame begins.  Both cut one frame interval each from glass-to-glass.
 *
 * Caller mode connects from the output thread (inside write), non-blocking
 * with an epoll in 100 ms slices so that a stop interrupts it; on failure
 * or when the peer goes away it retries with a doubling backoff capped at
 * reconnect_max_ms, while the streamer's queue drops the oldest GOPs.
 * Listener mode has an accept thread; each receiver is its own socket.
 * Sockets are non-blocking for sending: a receiver that cannot keep up
 * loses payloads (counted) instead of slowing the others. */
#include "streamer_priv.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <srt/srt.h>
#include <srt/logging_api.h>
#include <libavutil/opt.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"
#include "lb_thread.h"

#define TS_PAYLOAD 1316
#define MAX_PEERS 64
#define STATS_INTERVAL_US 1000000
#define CONNECT_TIMEOUT_MS 3000
#define TS_OFFSET_US 10000000

typedef struct srt_settings {
    char url[1024];
    int max_receivers;
    int reconnect_max_ms;
    int low_delay;
} srt_settings;

static const lb_option srt_options[] = {
    { "url", LB_OPT_STRING, offsetof(srt_settings, url), sizeof(((srt_settings *)0)->url), NULL, 0, 0,
      NULL, "srt://host:port?mode=caller|listener&latency=ms&passphrase=...&pbkeylen=16|24|32&streamid=..." },
    { "max_receivers", LB_OPT_INT, offsetof(srt_settings, max_receivers), 0, "8", 1, MAX_PEERS, NULL,
      "listener mode: receivers served at once" },
    { "reconnect_max_ms", LB_OPT_INT, offsetof(srt_settings, reconnect_max_ms), 0, "1000", 100, 5000,
      NULL, "longest wait between attempts to connect (caller) or to listen (listener) (ms)" },
    { "low_delay", LB_OPT_BOOL, offsetof(srt_settings, low_delay), 0, "true", 0, 0, NULL,
      "send the end of each video frame at once (a short payload per frame) instead of "
      "holding it until the next frame's bytes fill the muxer's buffer: one frame "
      "interval less glass-to-glass" },
    { NULL },
};

typedef struct peer {
    SRTSOCKET sock;
    int active;                  /* receiving; else waiting for a key frame */
    uint64_t lost_payloads;
} peer;

typedef struct srt_out {
    srt_settings set;
    /* from the URL */
    char host[256];
    int port;
    int listener;
    int latency_ms;
    char passphrase[80];
    int pbkeylen;
    char streamid[512];

    int started;                 /* srt_startup done */
    AVFormatContext *ts;
    int video_index;             /* table index of the program video */
    int map[32];                 /* table index -> TS stream, -1 */
    uint8_t pend[TS_PAYLOAD];
    int pend_len;
    int64_t pend_start;          /* stream offset of pend[0] */
    int64_t ts_bytes;            /* bytes out of the muxer so far */
    int64_t key_offset;          /* where the latest key frame's data starts */
    int wait_key;                /* after a gap: video resumes at a key frame */

    /* caller */
    SRTSOCKET sock;
    int connected_once;
    int64_t next_attempt_us;
    int backoff_ms;
    /* listener */
    SRTSOCKET lsock;
    lb_thread accept_thread;
    pthread_mutex_t peers_lock;  /* peers[] is shared with the accept thread */
    int peers_lock_init;
    peer peers[MAX_PEERS];
    int nb_peers;

    atomic_int stop;
    int64_t last_stats_us;
    pthread_mutex_t lock;        /* guards what stats() reads */
    int lock_init;
    char state[16];
    char last_error[256];
    uint64_t reconnects;
    double rtt_ms, loss_pct, send_kbps;
    uint64_t retransmits, retransmits_closed; /* live peers, and peers gone */
} srt_out;

static void set_state(srt_out *s, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_state(srt_out *s, const char *state, const char *fmt, ...)
{
    pthread_mutex_lock(&s->lock);
    if (state)
        snprintf(s->state, sizeof s->state, "%s", state);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        lb_redact_vformat(s->last_error, sizeof s->last_error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->lock);
}

static void srt_log_handler(void *opaque, int level, const char *file, int line, const char *area,
                            const char *message)
{
    size_t len = strlen(message);
    while (len && message[len - 1] == '\n')
        len--;
    lb_log(level <= LOG_ERR ? LB_LOG_ERROR : level <= LOG_WARNING ? LB_LOG_WARN : LB_LOG_DEBUG,
           "srt", "%.*s", (int)len, message);
}

static void route_srt_log(void)
{
    /* No time, thread or severity in SRT's text: lb_log adds its own, and
     * identical lines can then be folded (a caller retrying with a wrong
     * passphrase would otherwise flood the log). */
    srt_setlogflags(SRT_LOGF_DISABLE_TIME | SRT_LOGF_DISABLE_THREADNAME |
                    SRT_LOGF_DISABLE_SEVERITY | SRT_LOGF_DISABLE_EOL);
    srt_setloglevel(LOG_ERR);
    srt_setloghandler(NULL, srt_log_handler);
}

/* Parses srt://host:port?key=value&...; messages in the standard form. */
static int parse_url(srt_out *s, const lb_config_section *sec, char *err, size_t err_size)
{
    const char *u = s->set.url;
    if (strncmp(u, "srt://", 6)) {
        lb_config_error(sec, "url", err, err_size, "'%s' is not an srt:// URL", u);
        return AVERROR(EINVAL);
    }
    u += 6;
    const char *q = strchr(u, '?');
    size_t hostport = q ? (size_t)(q - u) : strlen(u);
    char hp[300];
    if (hostport >= sizeof hp) {
        lb_config_error(sec, "url", err, err_size, "host too long");
        return AVERROR(EINVAL);
    }
    memcpy(hp, u, hostport);
    hp[hostport] = 0;
    char *colon = strrchr(hp, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || !*(colon + 1) || *end || port < 1 || port > 65535) {
        lb_config_error(sec, "url", err, err_size, "'%s' needs host:port with a port 1..65535",
                        s->set.url);
        return AVERROR(EINVAL);
    }
    *colon = 0;
    if (hp[0] == '[' && colon > hp && colon[-1] == ']') {     /* [::1] */
        colon[-1] = 0;
        memmove(hp, hp + 1, strlen(hp));
    }
    snprintf(s->host, sizeof s->host, "%s", hp);
    s->port = (int)port;
    s->latency_ms = 120;
    s->pbkeylen = 0;
    s->listener = 0;
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        char kv[600];
        if (len >= sizeof kv) {
            lb_config_error(sec, "url", err, err_size, "parameter too long");
            return AVERROR(EINVAL);
        }
        memcpy(kv, p, len);
        kv[len] = 0;
        p = amp ? amp + 1 : NULL;
        if (!*kv)
            continue;
        char *val = strchr(kv, '=');
        if (!val) {
            lb_config_error(sec, "url", err, err_size, "parameter '%s' has no value", kv);
            return AVERROR(EINVAL);
        }
        *val++ = 0;
        if (!strcmp(kv, "mode")) {
            if (!strcmp(val, "caller"))
                s->listener = 0;
            else if (!strcmp(val, "listener"))
                s->listener = 1;
            else {
                lb_config_error(sec, "url", err, err_size,
                                "mode '%s' is not supported (expected caller or listener)", val);
                return AVERROR(EINVAL);
            }
        } else if (!strcmp(kv, "latency")) {
            long v = strtol(val, &end, 10);
            if (!*val || *end || v < 0 || v > 60000) {
                lb_config_error(sec, "url", err, err_size,
                                "latency '%s' must be milliseconds in 0..60000", val);
                return AVERROR(EINVAL);
            }
            s->latency_ms = (int)v;
        } else if (!strcmp(kv, "passphrase")) {
            size_t n = strlen(val);
            if (n < 10 || n > 79) {
                lb_config_error(sec, "url", err, err_size,
                                "passphrase must have 10 to 79 characters (has %zu)", n);
                return AVERROR(EINVAL);
            }
            snprintf(s->passphrase, sizeof s->passphrase, "%s", val);
        } else if (!strcmp(kv, "pbkeylen")) {
            if (strcmp(val, "16") && strcmp(val, "24") && strcmp(val, "32")) {
                lb_config_error(sec, "url", err, err_size,
                                "pbkeylen '%s' must be 16, 24 or 32 (AES-128/192/256)", val);
                return AVERROR(EINVAL);
            }
            s->pbkeylen = atoi(val);
        } else if (!strcmp(kv, "streamid")) {
            snprintf(s->streamid, sizeof s->streamid, "%s", val);
        } else {
            lb_config_error(sec, "url", err, err_size, "unknown parameter '%s' (expected mode, "
                            "latency, passphrase, pbkeylen, streamid)", kv);
            return AVERROR(EINVAL);
        }
    }
    if (s->pbkeylen && !*s->passphrase) {
        lb_config_error(sec, "url", err, err_size, "pbkeylen needs a passphrase");
        return AVERROR(EINVAL);
    }
    return 0;
}

static int srt_configure(void *priv, const lb_config_section *sec, char *err, size_t err_size)
{
    srt_out *s = priv;
    int ret = lb_config_apply(sec, srt_options, &s->set, err, err_size);
    if (ret < 0)
        return ret;
    if (!*s->set.url) {
        lb_config_error(sec, "url", err, err_size, "missing (srt://host:port?mode=caller|listener)");
        return AVERROR(EINVAL);
    }
    if ((ret = parse_url(s, sec, err, err_size)) < 0)
        return ret;
    if (s->listener && !*s->passphrase)
        LB_LOGW("srt", "%s: the listener on port %d has no passphrase: anyone who can reach the "
                "port can pull the program (add passphrase=<10 to 79 characters> to the url)",
                lb_config_section_name(sec), s->port);
    pthread_mutex_init(&s->lock, NULL);
    s->lock_init = 1;
    snprintf(s->state, sizeof s->state, "idle");
    s->sock = s->lsock = SRT_INVALID_SOCK;
    return 0;
}

/* Options common to caller and listener sockets (pre-bind/connect). */
static int set_socket_options(srt_out *s, SRTSOCKET sock)
{
    int yes = 1, no = 0, live = SRTT_LIVE, idle_ms = 3000;
    if (srt_setsockflag(sock, SRTO_TRANSTYPE, &live, sizeof live) < 0 ||
        srt_setsockflag(sock, SRTO_SENDER, &yes, sizeof yes) < 0 ||
        srt_setsockflag(sock, SRTO_SNDSYN, &no, sizeof no) < 0 ||
        srt_setsockflag(sock, SRTO_RCVSYN, &no, sizeof no) < 0 ||
        srt_setsockflag(sock, SRTO_LATENCY, &s->latency_ms, sizeof s->latency_ms) < 0 ||
        srt_setsockflag(sock, SRTO_PEERIDLETIMEO, &idle_ms, sizeof idle_ms) < 0)
        return -1;
    if (*s->passphrase) {
        if (srt_setsockflag(sock, SRTO_PASSPHRASE, s->passphrase, (int)strlen(s->passphrase)) < 0)
            return -1;
        if (s->pbkeylen && srt_setsockflag(sock, SRTO_PBKEYLEN, &s->pbkeylen, sizeof s->pbkeylen) < 0)
            return -1;
    }
    if (*s->streamid && !s->listener &&
        srt_setsockflag(sock, SRTO_STREAMID, s->streamid, (int)strlen(s->streamid)) < 0)
        return -1;
    return 0;
}

static int resolve(srt_out *s, struct sockaddr_storage *ss, int *len)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    if (s->listener && !*s->host)
        hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(*s->host ? s->host : NULL, port, &hints, &ai);
    if (rc || !ai) {
        set_state(s, NULL, "cannot resolve %s: %s", s->host, gai_strerror(rc));
        return AVERROR(EHOSTUNREACH);
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = (int)ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

/* ---- peers ---- */

static void close_peer(srt_out *s, int i, const char *why)
{
    SRT_TRACEBSTATS perf;
    if (srt_bstats(s->peers[i].sock, &perf, 0) == 0) {
        pthread_mutex_lock(&s->lock);
        s->retransmits_closed += (uint64_t)perf.pktRetransTotal;   /* keep the total */
        pthread_mutex_unlock(&s->lock);
    }
    if (why)
        LB_LOGI("srt", "%s:%d: receiver left: %s", s->host, s->port, why);
    srt_close(s->peers[i].sock);
    s->peers[i] = s->peers[--s->nb_peers];
}

/* Sends one payload to every active peer; peers that are gone are closed.
 * Caller mode has one peer, the connection. */
static void send_payload(srt_out *s, const uint8_t *data, int len, int64_t offset)
{
    pthread_mutex_lock(&s->peers_lock);
    for (int i = 0; i < s->nb_peers;) {
        peer *p = &s->peers[i];
        const uint8_t *d = data;
        int n = len;
        if (!p->active) {
            /* switch on at the key frame's first byte if it is in here */
            if (s->key_offset < offset || s->key_offset >= offset + len) {
                i++;
                continue;
            }
            d += s->key_offset - offset;
            n -= (int)(s->key_offset - offset);
            p->active = 1;
        }
        if (srt_sendmsg2(p->sock, (const char *)d, n, NULL) == SRT_ERROR) {
            int e = srt_getlasterror(NULL);
            if (e == SRT_EASYNCSND) {
                p->lost_payloads++;             /* this receiver is too slow */
                i++;
                continue;
            }
            char why[256];
            snprintf(why, sizeof why, "%s", srt_getlasterror_str());
            set_state(s, s->listener ? NULL : "lost", "%s", why);
            if (!s->listener) {
                LB_LOGW("srt", "%s:%d: connection lost: %s", s->host, s->port, why);
                s->sock = SRT_INVALID_SOCK;
                s->next_attempt_us = lb_clock_now() + 250000;
                s->backoff_ms = 250;
            }
            close_peer(s, i, s->listener ? why : NULL);
            continue;
        }
        i++;
    }
    pthread_mutex_unlock(&s->peers_lock);
}

static int ts_write(void *opaque, uint8_t *buf, int size)
{
    srt_out *s = opaque;
    int done = 0;
    while (done < size) {
        if (!s->pend_len)
            s->pend_start = s->ts_bytes;
        int n = TS_PAYLOAD - s->pend_len;
        if (n > size - done)
            n = size - done;
        memcpy(s->pend + s->pend_len, buf + done, (size_t)n);
        s->pend_len += n;
        s->ts_bytes += n;
        done += n;
        if (s->pend_len == TS_PAYLOAD) {
            send_payload(s, s->pend, TS_PAYLOAD, s->pend_start);
            s->pend_len = 0;
        }
    }
    return size;
}

/* ---- caller ---- */

static int wait_connected(srt_out *s, SRTSOCKET sock)
{
    int eid = srt_epoll_create();
    int events = SRT_EPOLL_OUT | SRT_EPOLL_ERR, ret = AVERROR(ETIMEDOUT);
    if (eid < 0)
        return AVERROR(ENOMEM);
    srt_epoll_add_usock(eid, sock, &events);
    for (int waited = 0; waited < CONNECT_TIMEOUT_MS + 500 && !atomic_load(&s->stop); waited += 100) {
        SRTSOCKET ready[2];
        int nr = 2, nw = 2;
        SRTSOCKET wready[2];
        srt_epoll_wait(eid, ready, &nr, wready, &nw, 100, NULL, NULL, NULL, NULL);
        SRT_SOCKSTATUS st = srt_getsockstate(sock);
        if (st == SRTS_CONNECTED) {
            ret = 0;
            break;
        }
        if (st == SRTS_BROKEN || st == SRTS_CLOSED || st == SRTS_NONEXIST) {
            int reason = srt_getrejectreason(sock);
            set_state(s, NULL, "connection to %s:%d failed: %s", s->host, s->port,
                      srt_rejectreason_str(reason));
            ret = AVERROR(ECONNREFUSED);
            break;
        }
    }
    if (ret == AVERROR(ETIMEDOUT))
        set_state(s, NULL, "connection to %s:%d timed out", s->host, s->port);
    srt_epoll_release(eid);
    return ret;
}

static void try_connect(srt_out *s)
{
    struct sockaddr_storage ss;
    int len;
    int64_t now = lb_clock_now();
    if (now < s->next_attempt_us)
        return;
    set_state(s, s->connected_once ? "reconnecting" : "connecting", NULL);
    SRTSOCKET sock = srt_create_socket();
    if (sock == SRT_INVALID_SOCK || set_socket_options(s, sock) < 0 || resolve(s, &ss, &len) < 0) {
        if (sock != SRT_INVALID_SOCK)
            set_state(s, NULL, "%s", srt_getlasterror_str());
        goto retry;
    }
    if (srt_connect(sock, (struct sockaddr *)&ss, len) == SRT_ERROR) {
        set_state(s, NULL, "connect: %s", srt_getlasterror_str());
        goto retry;
    }
    if (wait_connected(s, sock) < 0)
        goto retry;
    pthread_mutex_lock(&s->peers_lock);
    s->peers[0] = (peer){ .sock = sock, .active = 0 };
    s->nb_peers = 1;
    pthread_mutex_unlock(&s->peers_lock);
    s->sock = sock;
    s->backoff_ms = 0;
    pthread_mutex_lock(&s->lock);
    if (s->connected_once)
        s->reconnects++;
    s->last_error[0] = 0;
    pthread_mutex_unlock(&s->lock);
    s->connected_once = 1;
    set_state(s, "live", NULL);
    LB_LOGI("srt", "%s:%d: connected (latency %d ms%s)", s->host, s->port, s->latency_ms,
            *s->passphrase ? ", encrypted" : "");
    return;
retry:
    if (sock != SRT_INVALID_SOCK)
        srt_close(sock);
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 250;
    if (s->backoff_ms > s->set.reconnect_max_ms)
        s->backoff_ms = s->set.reconnect_max_ms;
    s->next_attempt_us = lb_clock_now() + s->backoff_ms * 1000LL;
    set_state(s, s->connected_once ? "lost" : "connecting", NULL);
    pthread_mutex_lock(&s->lock);
    LB_LOGD("srt", "%s:%d: %s; retry in %d ms", s->host, s->port, s->last_error, s->backoff_ms);
    pthread_mutex_unlock(&s->lock);
}

/* ---- listener ---- */

static void *accept_loop(void *arg)
{
    srt_out *s = arg;
    int eid = srt_epoll_create();
    int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    srt_epoll_add_usock(eid, s->lsock, &events);
    while (!atomic_load(&s->stop)) {
        SRTSOCKET ready[4];
        int nr = 4;
        if (srt_epoll_wait(eid, ready, &nr, NULL, NULL, 100, NULL, NULL, NULL, NULL) <= 0)
            continue;
        struct sockaddr_storage ss;
        int len = sizeof ss;
        SRTSOCKET c = srt_accept(s->lsock, (struct sockaddr *)&ss, &len);
        if (c == SRT_INVALID_SOCK)
            continue;
        char host[64] = "?";
        getnameinfo((struct sockaddr *)&ss, (socklen_t)len, host, sizeof host, NULL, 0, NI_NUMERICHOST);
        pthread_mutex_lock(&s->peers_lock);
        if (s->nb_peers >= s->set.max_receivers) {
            pthread_mutex_unlock(&s->peers_lock);
            LB_LOGW("srt", ":%d: receiver %s refused: already %d", s->port, host, s->set.max_receivers);
            srt_close(c);
            continue;
        }
        s->peers[s->nb_peers++] = (peer){ .sock = c, .active = 0 };
        int n = s->nb_peers;
        pthread_mutex_unlock(&s->peers_lock);
        LB_LOGI("srt", ":%d: receiver %s joined (%d now)", s->port, host, n);
        set_state(s, "live", NULL);
    }
    srt_epoll_release(eid);
    return NULL;
}

/* Binds and listens; on failure (the port is taken) the output keeps
 * running and retries from write/idle with the caller's backoff. */
static int open_listener(srt_out *s)
{
    struct sockaddr_storage ss;
    int len, ret, yes = 1;
    if (lb_clock_now() < s->next_attempt_us)
        return AVERROR(EAGAIN);
    if ((ret = resolve(s, &ss, &len)) < 0)
        goto retry;
    s->lsock = srt_create_socket();
    if (s->lsock == SRT_INVALID_SOCK || set_socket_options(s, s->lsock) < 0 ||
        srt_setsockflag(s->lsock, SRTO_REUSEADDR, &yes, sizeof yes) < 0 ||
        srt_bind(s->lsock, (struct sockaddr *)&ss, len) == SRT_ERROR ||
        srt_listen(s->lsock, s->set.max_receivers) == SRT_ERROR) {
        if (!s->backoff_ms)
            LB_LOGE("srt", "listen on %s:%d: %s; retrying", s->host, s->port, srt_getlasterror_str());
        set_state(s, "failed", "listen on %s:%d: %s", s->host, s->port, srt_getlasterror_str());
        ret = AVERROR(EADDRINUSE);
        goto retry;
    }
    if ((ret = lb_thread_start(&s->accept_thread, "lb-srt-accept", accept_loop, s)) < 0)
        goto retry;
    s->backoff_ms = 0;
    set_state(s, "listening", "%s", "");
    LB_LOGI("srt", "listening on %s:%d for receivers (latency %d ms%s)", s->host, s->port,
            s->latency_ms, *s->passphrase ? ", encrypted" : "");
    return 0;
retry:
    if (s->lsock != SRT_INVALID_SOCK)
        srt_close(s->lsock);
    s->lsock = SRT_INVALID_SOCK;
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 250;
    if (s->backoff_ms > s->set.reconnect_max_ms)
        s->backoff_ms = s->set.reconnect_max_ms;
    s->next_attempt_us = lb_clock_now() + s->backoff_ms * 1000LL;
    return ret;
}

/* ---- the output ---- */

static int srt_open(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir)
{
    srt_out *s = priv;
    int ret;
    uint8_t *buf = NULL;

    atomic_store(&s->stop, 0);
    s->pend_len = 0;
    s->ts_bytes = 0;
    s->key_offset = -1;
    s->wait_key = 0;
    s->video_index = -1;
    s->nb_peers = 0;
    s->sock = s->lsock = SRT_INVALID_SOCK;
    s->next_attempt_us = 0;
    s->backoff_ms = 0;
    s->connected_once = 0;
    pthread_mutex_init(&s->peers_lock, NULL);
    s->peers_lock_init = 1;
    static pthread_once_t log_once = PTHREAD_ONCE_INIT;
    pthread_once(&log_once, route_srt_log);
    if (srt_startup() < 0) {
        set_state(s, "failed", "srt_startup failed");
        return AVERROR_EXTERNAL;
    }
    s->started = 1;

    if ((ret = avformat_alloc_output_context2(&s->ts, NULL, "mpegts", NULL)) < 0)
        goto fail;
    for (int i = 0; i < 32; i++)
        s->map[i] = -1;
    for (int i = 0; i < nb_streams && i < 32; i++) {
        if (streams[i].kind != LB_STREAM_PROGRAM_VIDEO && streams[i].kind != LB_STREAM_PROGRAM_AUDIO)
            continue;
        AVStream *st = avformat_new_stream(s->ts, NULL);
        if (!st) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        if ((ret = avcodec_parameters_copy(st->codecpar, streams[i].par)) < 0)
            goto fail;
        st->codecpar->codec_tag = 0;
        st->time_base = (AVRational){ 1, 90000 };
        s->map[i] = st->index;
        if (streams[i].kind == LB_STREAM_PROGRAM_VIDEO && s->video_index < 0)
            s->video_index = i;
    }
    if (!(buf = av_malloc(TS_PAYLOAD * 8))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    if (!(s->ts->pb = avio_alloc_context(buf, TS_PAYLOAD * 8, 1, s, NULL, ts_write, NULL))) {
        av_free(buf);
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "mpegts_flags", "+resend_headers", 0);
    /* Timestamps pass as they are, plus a constant that keeps the encoder
     * delay (AAC priming, B-frames) from going negative at program time 0:
     * the muxer's own shift would be decided by whichever packet comes first. */
    av_dict_set(&opts, "mpegts_copyts", "1", 0);
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
    /* With its length in the PES header (frames under 64 KiB) a receiver's
     * demuxer hands a frame on when its last byte arrives; without, only
     * when the next frame's header does, one frame interval later. */
    av_dict_set(&opts, "omit_video_pes_length", "0", 0);
    ret = avformat_write_header(s->ts, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        goto fail;
    if (s->listener)
        open_listener(s);                   /* a busy port is retried, not fatal */
    if (!s->listener)
        set_state(s, "connecting", NULL);
    return 0;
fail:
    if (!*s->last_error)
        set_state(s, "failed", "%s", av_err2str(ret));
    return ret;
}

static void update_stats(srt_out *s, int64_t now)
{
    if (now - s->last_stats_us < STATS_INTERVAL_US)
        return;
    s->last_stats_us = now;
    double rtt = 0, kbps = 0;
    int64_t sent = 0, lost = 0, retrans = 0;
    pthread_mutex_lock(&s->peers_lock);
    for (int i = 0; i < s->nb_peers; i++) {
        SRT_TRACEBSTATS perf;
        if (srt_bstats(s->peers[i].sock, &perf, 0) < 0)
            continue;
        if (perf.msRTT > rtt)
            rtt = perf.msRTT;             /* the worst receiver is what matters */
        kbps += perf.mbpsSendRate * 1000;
        sent += perf.pktSentTotal;
        lost += perf.pktSndLossTotal;
        retrans += perf.pktRetransTotal;
    }
    pthread_mutex_unlock(&s->peers_lock);
    pthread_mutex_lock(&s->lock);
    s->rtt_ms = rtt;
    s->send_kbps = kbps;
    s->loss_pct = sent ? 100.0 * (double)lost / (double)sent : 0;
    s->retransmits = s->retransmits_closed + (uint64_t)retrans;
    pthread_mutex_unlock(&s->lock);
}

static int srt_write(void *priv, const AVPacket *in)
{
    srt_out *s = priv;
    int si = in->stream_index;
    if (si < 0 || si >= 32 || s->map[si] < 0)
        return 0;
    int64_t now = lb_clock_now();
    if (!s->listener && s->sock == SRT_INVALID_SOCK)
        try_connect(s);
    if (s->listener && s->lsock == SRT_INVALID_SOCK)
        open_listener(s);
    update_stats(s, now);

    int key = si == s->video_index && (in->flags & AV_PKT_FLAG_KEY);
    if (si == s->video_index && s->wait_key && !key)
        return 0;                           /* no P-frames without their reference */
    if (key) {
        s->wait_key = 0;
        /* Everything before the key frame goes out first; the key frame's
         * bytes (PAT, PMT, then the IDR) start at a known offset. */
        avio_flush(s->ts->pb);
        s->key_offset = s->ts_bytes;
        av_opt_set(s->ts->priv_data, "mpegts_flags", "+resend_headers", 0);
    }
    AVPacket *pkt = av_packet_clone(in);
    if (!pkt)
        return AVERROR(ENOMEM);
    AVStream *st = s->ts->streams[s->map[si]];
    pkt->pts += TS_OFFSET_US;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts += TS_OFFSET_US;
    av_packet_rescale_ts(pkt, AV_TIME_BASE_Q, st->time_base);
    pkt->stream_index = st->index;
    pkt->opaque = NULL;
    int ret = av_write_frame(s->ts, pkt);
    av_packet_free(&pkt);
    if (ret < 0) {
        /* a packet the muxer refuses (timestamps) is skipped, not fatal */
        LB_LOGW("srt", "%s:%d: packet skipped: %s", s->host, s->port, av_err2str(ret));
    }
    if (s->set.low_delay && si == s->video_index) {
        /* the muxer's buffer first: it holds up to 8 payloads of the frame */
        avio_flush(s->ts->pb);
        if (s->pend_len)
            send_payload(s, s->pend, s->pend_len, s->pend_start);
        s->pend_len = 0;
        lb_clock_trace("srtsent", in->pts, 0);
    }
    return 0;
}

static void srt_idle(void *priv)
{
    srt_out *s = priv;
    if (!s->listener && s->sock == SRT_INVALID_SOCK)
        try_connect(s);
    if (s->listener && s->lsock == SRT_INVALID_SOCK)
        open_listener(s);
    update_stats(s, lb_clock_now());
}

static void srt_interrupt(void *priv)
{
    srt_out *s = priv;
    atomic_store(&s->stop, 1);
}

static void srt_gap(void *priv)
{
    srt_out *s = priv;
    LB_LOGW("srt", "%s:%d: the network fell behind: GOPs dropped", s->host, s->port);
    s->wait_key = 1;
}

static void srt_uninit(void *priv)
{
    srt_out *s = priv;
    if (s->lock_init)
        pthread_mutex_destroy(&s->lock);
    s->lock_init = 0;
}

static void srt_stats(void *priv, lb_output_stats *out)
{
    srt_out *s = priv;
    if (!s->lock_init)
        return;
    pthread_mutex_lock(&s->lock);
    snprintf(out->state, sizeof out->state, "%s", s->state);
    snprintf(out->last_error, sizeof out->last_error, "%s", s->last_error);
    out->reconnects = s->reconnects;
    out->rtt_ms = s->rtt_ms;
    out->loss_pct = s->loss_pct;
    out->send_kbps = s->send_kbps;
    out->retransmits = s->retransmits;
    pthread_mutex_unlock(&s->lock);
}

/* Lets what was sent reach the receivers before the sockets close (live
 * mode does not linger). */
static void drain_peers(srt_out *s)
{
    for (int waited = 0; waited < 2000; waited += 20) {
        size_t total = 0;
        for (int i = 0; i < s->nb_peers; i++) {
            size_t blocks = 0, bytes = 0;
            if (srt_getsndbuffer(s->peers[i].sock, &blocks, &bytes) == 0)
                total += blocks;
        }
        if (!total)
            break;
        lb_clock_sleep_until(lb_clock_now() + 20000);
    }
    /* Acknowledged is not delivered: the receiver holds the tail for its
     * latency, and a close now would make it drop that. */
    if (s->nb_peers)
        lb_clock_sleep_until(lb_clock_now() + (s->latency_ms + 100) * 1000LL);
}

static void srt_close_output(void *priv)
{
    srt_out *s = priv;
    atomic_store(&s->stop, 1);
    lb_thread_join(&s->accept_thread);
    if (s->ts) {
        if (s->ts->pb) {
            av_write_trailer(s->ts);
            avio_flush(s->ts->pb);
            if (s->pend_len) {
                send_payload(s, s->pend, s->pend_len, s->pend_start);
                s->pend_len = 0;
            }
            av_freep(&s->ts->pb->buffer);
            avio_context_free(&s->ts->pb);
        }
        avformat_free_context(s->ts);
        s->ts = NULL;
    }
    if (s->peers_lock_init) {
        drain_peers(s);
        pthread_mutex_lock(&s->peers_lock);
        while (s->nb_peers)
            close_peer(s, s->nb_peers - 1, NULL);
        pthread_mutex_unlock(&s->peers_lock);
        pthread_mutex_destroy(&s->peers_lock);
        s->peers_lock_init = 0;
    }
    s->sock = SRT_INVALID_SOCK;
    if (s->lsock != SRT_INVALID_SOCK)
        srt_close(s->lsock);
    s->lsock = SRT_INVALID_SOCK;
    if (s->started)
        srt_cleanup();
    s->started = 0;
    if (s->lock_init)
        set_state(s, "idle", NULL);
}

const lb_output_ops lb_output_srt = {
    .kind = "srt",
    .priv_size = sizeof(srt_out),
    .configure = srt_configure,
    .open = srt_open,
    .write = srt_write,
    .stats = srt_stats,
    .close = srt_close_output,
    .stream_kinds = KIND_BIT(LB_STREAM_PROGRAM_VIDEO) | KIND_BIT(LB_STREAM_PROGRAM_AUDIO),
    .interrupt = srt_interrupt,
    .gap = srt_gap,
    .idle = srt_idle,
    .uninit = srt_uninit,
    .options = srt_options,
};
