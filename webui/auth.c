/* Design note: who may do what.
 *
 * Users live in a small JSON file in the data folder (0600, written to a
 * temporary name and renamed, so a crash never leaves half a file), plus an
 * optional admin whose yescrypt hash comes from [auth] admin_password_hash
 * (read-only: changing it means changing the config).  Passwords are only
 * ever stored as libcrypt hashes ("$y$": yescrypt, a fresh salt each time).
 *
 * Sessions are random 256-bit identifiers kept in memory only: a restart
 * logs everyone out, which is what an appliance should do.  Each has its own
 * CSRF token.  API tokens ("lbt_<id>_<secret>") are stored as SHA-256 of the
 * whole token; the secret is shown once when created.
 *
 * Failed logins are counted per client address in a fixed window; past the
 * limit every login from that address is refused (429) until the window
 * ends, even with the right password, so guessing costs the attacker time
 * and costs us no yescrypt work.
 *
 * All of it runs on the webui thread; nothing here locks. */
#include "webui_priv.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <libavutil/sha.h>

#include "lb_clock.h"
#include "lb_log.h"

#define MAX_USERS     64
#define MAX_TOKENS    64
#define MAX_SESSIONS  256
#define MAX_FAIL_IPS  128

typedef struct user {
    char name[64];
    webui_role role;
    char hash[CRYPT_OUTPUT_SIZE];
    int from_config;
} user;

typedef struct api_token {
    char id[24];
    char name[64];
    webui_role role;
    char sha256[65];
    char created_at[40];
} api_token;

typedef struct session {
    char id[48];
    char csrf[48];
    char user[64];
    webui_role role;
    int64_t last_seen_us;
} session;

typedef struct login_failures {
    char ip[64];
    int64_t window_start_us;
    int count;
} login_failures;

struct webui_auth {
    webui_auth_settings s;
    char users_file[PATH_MAX];
    char setup_code[16];          /* "XXXX-XXXX" while no admin exists */
    user users[MAX_USERS];
    int nb_users;
    api_token tokens[MAX_TOKENS];
    int nb_tokens;
    session sessions[MAX_SESSIONS];
    login_failures fails[MAX_FAIL_IPS];
};

static const char *const role_names[] = { "none", "viewer", "teacher", "operator", "admin" };

const char *webui_role_name(webui_role role)
{
    return role >= WEBUI_ROLE_NONE && role <= WEBUI_ROLE_ADMIN ? role_names[role] : "none";
}

webui_role webui_role_from_name(const char *name)
{
    for (int r = WEBUI_ROLE_VIEWER; name && r <= WEBUI_ROLE_ADMIN; r++)
        if (!strcmp(name, role_names[r]))
            return (webui_role)r;
    return WEBUI_ROLE_NONE;
}

/* Compares without an early exit, so timing tells nothing about where two
 * secrets differ. */
int webui_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return !diff;
}

static int random_token(char *out, size_t out_size, size_t nb_bytes)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[48];
    size_t got = 0, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (nb_bytes > sizeof raw || out_size < (nb_bytes * 4 + 2) / 3 + 1)
        return AVERROR(EINVAL);
    while (got < nb_bytes) {
        ssize_t n = getrandom(raw + got, nb_bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return AVERROR(errno);
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < nb_bytes; i++) {        /* base64url, no padding */
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = alphabet[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = alphabet[(acc << (6 - bits)) & 63];
    out[o] = 0;
    return 0;
}

static void sha256_hex(const char *text, char out[65])
{
    uint8_t digest[32];
    struct AVSHA *sha = av_sha_alloc();
    if (!sha) {
        out[0] = 0;
        return;
    }
    av_sha_init(sha, 256);
    av_sha_update(sha, (const uint8_t *)text, strlen(text));
    av_sha_final(sha, digest);
    av_free(sha);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* yescrypt with a fresh salt.  crypt_data is 32 KiB: on the heap. */
static int hash_password(const char *password, char *out, size_t out_size)
{
    struct crypt_data *cd = NULL;
    char *setting = NULL;
    int ret = AVERROR(EINVAL);

    if (!(setting = crypt_gensalt_ra("$y$", 0, NULL, 0))) {
        ret = AVERROR(errno ? errno : EINVAL);
        goto fail;
    }
    if (!(cd = calloc(1, sizeof *cd))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    const char *h = crypt_rn(password, setting, cd, sizeof *cd);
    if (!h || h[0] == '*' || strlen(h) >= out_size)
        goto fail;
    snprintf(out, out_size, "%s", h);
    ret = 0;
fail:
    free(cd);
    free(setting);
    return ret;
}

static int verify_password(const char *password, const char *hash)
{
    struct crypt_data *cd = calloc(1, sizeof *cd);
    int ok = 0;
    if (!cd)
        return 0;
    const char *h = crypt_rn(password, hash, cd, sizeof *cd);
    ok = h && h[0] != '*' && webui_secret_equal(h, hash);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

static login_failures *failures_of(webui_auth *a, const char *ip, int create);

static user *find_user(webui_auth *a, const char *name)
{
    for (int i = 0; i < a->nb_users; i++)
        if (!strcmp(a->users[i].name, name))
            return &a->users[i];
    return NULL;
}

static int valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == '@'))
            return 0;
    return 1;
}

static int valid_password(const char *password, char *err, size_t err_size)
{
    size_t len = strlen(password);
    if (len < 8) {
        snprintf(err, err_size, "password too short (at least 8 characters)");
        return 0;
    }
    if (len > 256) {
        snprintf(err, err_size, "password too long");
        return 0;
    }
    return 1;
}

int webui_auth_create(webui_auth **pa, const webui_auth_settings *s, const char *data_dir,
                      char *err, size_t err_size)
{
    webui_auth *a = calloc(1, sizeof *a);
    int ret;

    if (!a)
        return AVERROR(ENOMEM);
    a->s = *s;
    if (s->users_file[0])
        snprintf(a->users_file, sizeof a->users_file, "%s", s->users_file);
    else if (snprintf(a->users_file, sizeof a->users_file, "%s/.luobo-auth.json", data_dir) >=
             (int)sizeof a->users_file) {
        snprintf(err, err_size, "auth: data_dir too long");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    if (s->admin_password_hash[0]) {
        /* Catch a pasted hash that libcrypt cannot use now, not at login. */
        if (crypt_checksalt(s->admin_password_hash) != CRYPT_SALT_OK ||
            strlen(s->admin_password_hash) < 20) {
            snprintf(err, err_size, "auth: admin_password_hash: not a crypt(5) hash "
                     "(make one with: mkpasswd -m yescrypt)");
            ret = AVERROR(EINVAL);
            goto fail;
        }
        user *u = &a->users[a->nb_users++];
        snprintf(u->name, sizeof u->name, "admin");
        u->role = WEBUI_ROLE_ADMIN;
        snprintf(u->hash, sizeof u->hash, "%s", s->admin_password_hash);
        u->from_config = 1;
    }
    *pa = a;
    return 0;
fail:
    free(a);
    return ret;
}

void webui_auth_free(webui_auth **pa)
{
    if (!pa || !*pa)
        return;
    explicit_bzero(*pa, sizeof **pa);
    free(*pa);
    *pa = NULL;
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int webui_auth_load(webui_auth *a, char *err, size_t err_size)
{
    FILE *f = NULL;
    char *text = NULL;
    cJSON *root = NULL;
    int ret = 0;
    long len;

    if (!(f = fopen(a->users_file, "rb"))) {
        if (errno == ENOENT)
            return 0;                       /* first run */
        ret = AVERROR(errno);
        snprintf(err, err_size, "auth: %s: %s", a->users_file, strerror(errno));
        goto fail;
    }
    if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || len > (1 << 20) ||
        fseek(f, 0, SEEK_SET) < 0) {
        ret = AVERROR(EINVAL);
        snprintf(err, err_size, "auth: %s: unreadable or too large", a->users_file);
        goto fail;
    }
    if (!(text = calloc(1, (size_t)len + 1)) || fread(text, 1, (size_t)len, f) != (size_t)len) {
        ret = AVERROR(EIO);
        snprintf(err, err_size, "auth: %s: read error", a->users_file);
        goto fail;
    }
    if (!(root = cJSON_Parse(text))) {
        ret = AVERROR(EINVAL);
        snprintf(err, err_size, "auth: %s: not valid JSON", a->users_file);
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "users")) {
        const char *name = json_str(it, "name"), *hash = json_str(it, "hash");
        webui_role role = webui_role_from_name(json_str(it, "role"));
        if (!name || !hash || !role || !valid_name(name) || find_user(a, name) ||
            a->nb_users >= MAX_USERS || strlen(hash) >= CRYPT_OUTPUT_SIZE) {
            LB_LOGW("webui", "%s: skipping a bad or duplicate user entry", a->users_file);
            continue;
        }
        user *u = &a->users[a->nb_users++];
        snprintf(u->name, sizeof u->name, "%s", name);
        snprintf(u->hash, sizeof u->hash, "%s", hash);
        u->role = role;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "tokens")) {
        const char *id = json_str(it, "id"), *sha = json_str(it, "sha256");
        const char *name = json_str(it, "name"), *created = json_str(it, "created_at");
        webui_role role = webui_role_from_name(json_str(it, "role"));
        if (!id || !sha || !role || strlen(sha) != 64 || strlen(id) >= 24 ||
            a->nb_tokens >= MAX_TOKENS)
            continue;
        api_token *t = &a->tokens[a->nb_tokens++];
        snprintf(t->id, sizeof t->id, "%s", id);
        snprintf(t->sha256, sizeof t->sha256, "%s", sha);
        snprintf(t->name, sizeof t->name, "%s", name ? name : "");
        snprintf(t->created_at, sizeof t->created_at, "%s", created ? created : "");
        t->role = role;
    }
fail:
    cJSON_Delete(root);
    free(text);
    if (f)
        fclose(f);
    return ret;
}

static int save(webui_auth *a, char *err, size_t err_size)
{
    char tmp[PATH_MAX + 8];
    cJSON *root = cJSON_CreateObject(), *users, *tokens;
    char *text = NULL;
    int fd = -1, ret = AVERROR(ENOMEM);

    if (!root || !(users = cJSON_AddArrayToObject(root, "users")) ||
        !(tokens = cJSON_AddArrayToObject(root, "tokens")))
        goto fail;
    for (int i = 0; i < a->nb_users; i++) {
        const user *u = &a->users[i];
        cJSON *o = cJSON_CreateObject();
        if (u->from_config || !o) {
            cJSON_Delete(o);
            continue;
        }
        cJSON_AddStringToObject(o, "name", u->name);
        cJSON_AddStringToObject(o, "role", webui_role_name(u->role));
        cJSON_AddStringToObject(o, "hash", u->hash);
        cJSON_AddItemToArray(users, o);
    }
    for (int i = 0; i < a->nb_tokens; i++) {
        const api_token *t = &a->tokens[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            continue;
        cJSON_AddStringToObject(o, "id", t->id);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "role", webui_role_name(t->role));
        cJSON_AddStringToObject(o, "sha256", t->sha256);
        cJSON_AddStringToObject(o, "created_at", t->created_at);
        cJSON_AddItemToArray(tokens, o);
    }
    if (!(text = cJSON_Print(root)))
        goto fail;
    snprintf(tmp, sizeof tmp, "%s.tmp", a->users_file);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
        ret = AVERROR(EIO);
        snprintf(err, err_size, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, a->users_file) < 0) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "cannot rename %s: %s", tmp, strerror(errno));
        goto fail;
    }
    ret = 0;
fail:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(text);
    cJSON_Delete(root);
    return ret;
}

int webui_auth_needs_setup(const webui_auth *a)
{
    for (int i = 0; i < a->nb_users; i++)
        if (a->users[i].role == WEBUI_ROLE_ADMIN)
            return 0;
    return 1;
}

int webui_auth_user_add(webui_auth *a, const char *name, const char *password, webui_role role,
                        char *err, size_t err_size)
{
    user *u;
    int ret;

    if (!valid_name(name)) {
        snprintf(err, err_size, "invalid user name (letters, digits, . _ - @; up to 63)");
        return AVERROR(EINVAL);
    }
    if (!role) {
        snprintf(err, err_size, "role must be admin, operator, teacher or viewer");
        return AVERROR(EINVAL);
    }
    if (!valid_password(password, err, err_size))
        return AVERROR(EINVAL);
    if (find_user(a, name)) {
        snprintf(err, err_size, "user '%s' exists", name);
        return AVERROR(EEXIST);
    }
    if (a->nb_users >= MAX_USERS) {
        snprintf(err, err_size, "too many users");
        return AVERROR(ENOSPC);
    }
    u = &a->users[a->nb_users];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    u->role = role;
    if ((ret = hash_password(password, u->hash, sizeof u->hash)) < 0) {
        snprintf(err, err_size, "cannot hash the password");
        return ret;
    }
    a->nb_users++;
    if ((ret = save(a, err, err_size)) < 0) {
        a->nb_users--;
        return ret;
    }
    LB_LOGI("webui", "user '%s' added with role %s", name, webui_role_name(role));
    return 0;
}

/* The first run must prove access to the machine: a one-time code goes to
 * the daemon's log only (the terminal, or the journal of the service), so
 * that nobody else on the network can claim the appliance first.  It lives
 * in memory: each start while no admin exists makes a new one. */
int webui_auth_prepare_setup(webui_auth *a, char *err, size_t err_size)
{
    static const char alphabet[] = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";   /* no 0/O, 1/I/L */
    unsigned char raw[8];

    a->setup_code[0] = 0;
    if (!webui_auth_needs_setup(a))
        return 0;
    for (size_t got = 0; got < sizeof raw;) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno != EINTR) {
            snprintf(err, err_size, "auth: no random numbers: %s", strerror(errno));
            return AVERROR(errno);
        }
        got += n > 0 ? (size_t)n : 0;
    }
    for (int i = 0, o = 0; i < 8; i++) {
        if (i == 4)
            a->setup_code[o++] = '-';
        /* 256 % 31 leaves a bias of under 1%: irrelevant behind the rate limit. */
        a->setup_code[o++] = alphabet[raw[i] % (sizeof alphabet - 1)];
        a->setup_code[o] = 0;
    }
    return 0;
}

const char *webui_auth_setup_code(const webui_auth *a)
{
    return a->setup_code;
}

/* Letters in any case, with or without the dash and spaces. */
static void normalize_code(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; in && *in && o + 1 < size; in++)
        if (*in != '-' && *in != ' ')
            out[o++] = (char)(*in >= 'a' && *in <= 'z' ? *in - 'a' + 'A' : *in);
    out[o] = 0;
}

int webui_auth_setup(webui_auth *a, const char *code, const char *name, const char *password,
                     char *err, size_t err_size)
{
    char want[16], got[16];
    int ret;

    if (!webui_auth_needs_setup(a)) {
        snprintf(err, err_size, "an administrator exists already");
        return AVERROR(EEXIST);
    }
    normalize_code(a->setup_code, want, sizeof want);
    normalize_code(code, got, sizeof got);
    if (!want[0] || !webui_secret_equal(want, got)) {
        snprintf(err, err_size, "wrong setup code (the daemon's log shows it)");
        return AVERROR(EACCES);
    }
    if ((ret = webui_auth_user_add(a, name, password, WEBUI_ROLE_ADMIN, err, err_size)) < 0)
        return ret;
    explicit_bzero(a->setup_code, sizeof a->setup_code);
    return 0;
}

int webui_auth_attempt(webui_auth *a, const char *ip)
{
    login_failures *f = failures_of(a, ip, 1);
    if (!f)
        return AVERROR(ENOMEM);
    if (f->count >= a->s.login_max_failures)
        return AVERROR(EAGAIN);
    /* Counted as failed until it succeeds, so that parallel attempts cannot
     * slip past the limit while their hashes are being checked. */
    f->count++;
    return 0;
}

void webui_auth_attempt_succeeded(webui_auth *a, const char *ip)
{
    login_failures *f = failures_of(a, ip, 0);
    if (f && f->count > 0)
        f->count--;
}

static void drop_sessions_of(webui_auth *a, const char *name)
{
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (a->sessions[i].id[0] && !strcmp(a->sessions[i].user, name))
            memset(&a->sessions[i], 0, sizeof a->sessions[i]);
}

int webui_auth_user_delete(webui_auth *a, const char *name, char *err, size_t err_size)
{
    user *u = find_user(a, name);
    int admins = 0, ret;

    if (!u) {
        snprintf(err, err_size, "no user '%s'", name);
        return AVERROR(ENOENT);
    }
    if (u->from_config) {
        snprintf(err, err_size, "user '%s' comes from the config file", name);
        return AVERROR(EPERM);
    }
    for (int i = 0; i < a->nb_users; i++)
        admins += a->users[i].role == WEBUI_ROLE_ADMIN;
    if (u->role == WEBUI_ROLE_ADMIN && admins == 1) {
        snprintf(err, err_size, "cannot delete the last administrator");
        return AVERROR(EPERM);
    }
    user saved = *u;
    int index = (int)(u - a->users);
    memmove(u, u + 1, sizeof *u * (size_t)(a->nb_users - index - 1));
    a->nb_users--;
    if ((ret = save(a, err, err_size)) < 0) {
        memmove(&a->users[index + 1], &a->users[index], sizeof *u * (size_t)(a->nb_users - index));
        a->users[index] = saved;
        a->nb_users++;
        return ret;
    }
    drop_sessions_of(a, name);
    return 0;
}

int webui_auth_user_password(webui_auth *a, const char *name, const char *password, char *err,
                             size_t err_size)
{
    user *u = find_user(a, name);
    char old[CRYPT_OUTPUT_SIZE];
    int ret;

    if (!u) {
        snprintf(err, err_size, "no user '%s'", name);
        return AVERROR(ENOENT);
    }
    if (u->from_config) {
        snprintf(err, err_size, "this password is set in the config file");
        return AVERROR(EPERM);
    }
    if (!valid_password(password, err, err_size))
        return AVERROR(EINVAL);
    memcpy(old, u->hash, sizeof old);
    if ((ret = hash_password(password, u->hash, sizeof u->hash)) < 0 ||
        (ret = save(a, err, err_size)) < 0) {
        memcpy(u->hash, old, sizeof old);
        return ret;
    }
    /* Whoever knew the old password is logged out everywhere. */
    drop_sessions_of(a, name);
    return 0;
}

int webui_auth_check_password(webui_auth *a, const char *name, const char *password)
{
    user *u = find_user(a, name);
    return u && verify_password(password, u->hash);
}

cJSON *webui_auth_users_json(const webui_auth *a)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < a->nb_users; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", a->users[i].name);
        cJSON_AddStringToObject(o, "role", webui_role_name(a->users[i].role));
        cJSON_AddBoolToObject(o, "from_config", a->users[i].from_config);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static login_failures *failures_of(webui_auth *a, const char *ip, int create)
{
    int64_t now = lb_clock_now(), window_us = (int64_t)a->s.login_window_s * 1000000;
    login_failures *oldest = &a->fails[0];
    for (int i = 0; i < MAX_FAIL_IPS; i++) {
        login_failures *f = &a->fails[i];
        if (f->ip[0] && now - f->window_start_us >= window_us)
            memset(f, 0, sizeof *f);           /* the window is over */
        if (f->ip[0] && !strcmp(f->ip, ip))
            return f;
        if (!f->ip[0] || f->window_start_us < oldest->window_start_us)
            oldest = f;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->ip, sizeof oldest->ip, "%s", ip);
    oldest->window_start_us = now;
    return oldest;
}

static void new_session(webui_auth *a, const char *name, webui_role role, webui_principal *who)
{
    session *slot = &a->sessions[0];
    int64_t now = lb_clock_now();
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (!s->id[0]) {
            slot = s;
            break;
        }
        if (s->last_seen_us < slot->last_seen_us)
            slot = s;                             /* full: the longest idle goes */
    }
    memset(slot, 0, sizeof *slot);
    if (random_token(slot->id, sizeof slot->id, 32) < 0 ||
        random_token(slot->csrf, sizeof slot->csrf, 32) < 0) {
        memset(slot, 0, sizeof *slot);
        memset(who, 0, sizeof *who);
        return;
    }
    snprintf(slot->user, sizeof slot->user, "%s", name);
    slot->role = role;
    slot->last_seen_us = now;
    memset(who, 0, sizeof *who);
    who->role = role;
    who->via = WEBUI_VIA_SESSION;
    snprintf(who->user, sizeof who->user, "%s", name);
    snprintf(who->session_id, sizeof who->session_id, "%s", slot->id);
    snprintf(who->csrf, sizeof who->csrf, "%s", slot->csrf);
}

/* A hash to verify unknown names against, so that timing does not tell
 * which names exist (the hash part is never matched). */
static const char dummy_hash[] = "$y$j9T$F5Jx5fExrKuJdljLajF2U.$mW2AXIxi9DYLQ3dGGkzm8rEuG8oHa8Lq8Fbm.kq9c1A";

int webui_auth_login_begin(webui_auth *a, const char *ip, const char *name, char *hash,
                           size_t hash_size)
{
    int ret = webui_auth_attempt(a, ip);
    if (ret < 0)
        return ret;
    user *u = find_user(a, name);
    snprintf(hash, hash_size, "%s", u ? u->hash : dummy_hash);
    return 0;
}

int webui_auth_login_finish(webui_auth *a, const char *ip, const char *name, int password_ok,
                            webui_principal *who)
{
    user *u = find_user(a, name);
    memset(who, 0, sizeof *who);
    if (!u || !password_ok) {
        LB_LOGW("webui", "failed login for '%s' from %s", name, ip);
        return AVERROR(EACCES);
    }
    webui_auth_attempt_succeeded(a, ip);
    new_session(a, u->name, u->role, who);
    if (!who->role)
        return AVERROR(EIO);
    LB_LOGI("webui", "'%s' (%s) logged in from %s", u->name, webui_role_name(u->role), ip);
    return 0;
}

int webui_auth_verify_password(const char *password, const char *hash)
{
    return verify_password(password, hash);
}

int webui_auth_login(webui_auth *a, const char *ip, const char *name, const char *password,
                     webui_principal *who)
{
    char hash[CRYPT_OUTPUT_SIZE];
    int ret = webui_auth_login_begin(a, ip, name, hash, sizeof hash);
    if (ret < 0)
        return ret;
    return webui_auth_login_finish(a, ip, name, verify_password(password, hash), who);
}

void webui_auth_logout(webui_auth *a, const char *session_id)
{
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (a->sessions[i].id[0] && webui_secret_equal(a->sessions[i].id, session_id))
            memset(&a->sessions[i], 0, sizeof a->sessions[i]);
}

int webui_auth_session(webui_auth *a, const char *session_id, webui_principal *who)
{
    int64_t now = lb_clock_now(), idle_us = (int64_t)a->s.session_idle_s * 1000000;
    if (!session_id || strlen(session_id) < 32)
        return AVERROR(ENOENT);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (!s->id[0] || !webui_secret_equal(s->id, session_id))
            continue;
        if (now - s->last_seen_us > idle_us) {
            memset(s, 0, sizeof *s);
            return AVERROR(ENOENT);
        }
        s->last_seen_us = now;
        memset(who, 0, sizeof *who);
        who->role = s->role;
        who->via = WEBUI_VIA_SESSION;
        snprintf(who->user, sizeof who->user, "%s", s->user);
        snprintf(who->session_id, sizeof who->session_id, "%s", s->id);
        snprintf(who->csrf, sizeof who->csrf, "%s", s->csrf);
        return 0;
    }
    return AVERROR(ENOENT);
}

int webui_auth_token(webui_auth *a, const char *token, webui_principal *who)
{
    char sha[65];
    if (!token || strncmp(token, "lbt_", 4))
        return AVERROR(ENOENT);
    sha256_hex(token, sha);
    for (int i = 0; sha[0] && i < a->nb_tokens; i++) {
        if (!webui_secret_equal(a->tokens[i].sha256, sha))
            continue;
        memset(who, 0, sizeof *who);
        who->role = a->tokens[i].role;
        who->via = WEBUI_VIA_TOKEN;
        snprintf(who->user, sizeof who->user, "token:%s", a->tokens[i].name);
        return 0;
    }
    return AVERROR(ENOENT);
}

cJSON *webui_auth_tokens_json(const webui_auth *a)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < a->nb_tokens; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", a->tokens[i].id);
        cJSON_AddStringToObject(o, "name", a->tokens[i].name);
        cJSON_AddStringToObject(o, "role", webui_role_name(a->tokens[i].role));
        cJSON_AddStringToObject(o, "created_at", a->tokens[i].created_at);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int webui_auth_token_create(webui_auth *a, const char *name, webui_role role, char *token,
                            size_t token_size, char *err, size_t err_size)
{
    char id[24], secret[48];
    api_token *t;
    int ret;

    if (!role) {
        snprintf(err, err_size, "role must be admin, operator, teacher or viewer");
        return AVERROR(EINVAL);
    }
    if (strlen(name) >= sizeof t->name) {
        snprintf(err, err_size, "name too long");
        return AVERROR(EINVAL);
    }
    if (a->nb_tokens >= MAX_TOKENS) {
        snprintf(err, err_size, "too many API tokens");
        return AVERROR(ENOSPC);
    }
    if ((ret = random_token(id, sizeof id, 9)) < 0 ||
        (ret = random_token(secret, sizeof secret, 32)) < 0)
        return ret;
    /* The id is the part before the secret; '_' inside it would be ambiguous
     * for people reading tokens, so map it away. */
    for (char *p = id; *p; p++)
        if (*p == '_' || *p == '-')
            *p = 'x';
    if (snprintf(token, token_size, "lbt_%s_%s", id, secret) >= (int)token_size)
        return AVERROR(EINVAL);
    t = &a->tokens[a->nb_tokens];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    sha256_hex(token, t->sha256);
    lb_clock_iso8601(lb_clock_wall_us(), t->created_at, sizeof t->created_at);
    a->nb_tokens++;
    if ((ret = save(a, err, err_size)) < 0) {
        a->nb_tokens--;
        return ret;
    }
    return 0;
}

int webui_auth_token_delete(webui_auth *a, const char *id, char *err, size_t err_size)
{
    for (int i = 0; i < a->nb_tokens; i++) {
        if (strcmp(a->tokens[i].id, id))
            continue;
        api_token saved = a->tokens[i];
        memmove(&a->tokens[i], &a->tokens[i + 1], sizeof saved * (size_t)(a->nb_tokens - i - 1));
        a->nb_tokens--;
        int ret = save(a, err, err_size);
        if (ret < 0) {
            memmove(&a->tokens[i + 1], &a->tokens[i], sizeof saved * (size_t)(a->nb_tokens - i));
            a->tokens[i] = saved;
            a->nb_tokens++;
        }
        return ret;
    }
    snprintf(err, err_size, "no token '%s'", id);
    return AVERROR(ENOENT);
}
