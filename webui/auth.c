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
 * CSRF token, an idle limit and an absolute lifetime, and a public "ref" by
 * which it can be listed and ended without showing its secret.  Each user
 * holds at most MAX_SESSIONS_PER_USER sessions (a new one ends that user's
 * oldest), and the table has room for every user's quota, so no login can
 * push out another user's session.  API tokens ("lbt_<id>_<secret>") are
 * stored as SHA-256 of the whole token; the secret is shown once when
 * created; they may carry an expiry (wall clock: they outlive restarts).
 * A user's record also keeps the UI language they chose ("lang"; for the
 * admin of the config file, whose record is not in the file, a "profiles"
 * entry), so that it follows them to any browser.
 *
 * Password guesses (logins, password changes, setup codes) are limited
 * twice.  Per client address, in a fixed window: past the limit every
 * attempt from that address is refused (429) until the window ends, even
 * with the right password, so guessing costs the attacker time and costs us
 * no yescrypt work.  Per account, against guesses spread over many
 * addresses: past the same number of failures each further failure locks
 * the account for 1, 2, 4 ... seconds up to login_backoff_max_s; a success
 * resets it, and a quiet spell of 4 x login_backoff_max_s forgets it.
 * Unknown names are tracked like real ones, so the answers do not tell
 * which names exist.  An attempt counts as failed from the moment it is
 * let through until its verdict, so parallel guesses cannot slip past
 * either limit while their hashes are being computed.
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
#include "lb_file.h"
#include "lb_log.h"

#define MAX_USERS     64
#define MAX_TOKENS    64
#define MAX_SESSIONS_PER_USER 10
#define MAX_SESSIONS  (MAX_USERS * MAX_SESSIONS_PER_USER)
#define MAX_FAIL_IPS  128
#define MAX_ACCOUNTS  (2 * MAX_USERS)      /* at least half for names that are no user */

typedef struct user {
    char name[64];
    webui_role role;
    char hash[CRYPT_OUTPUT_SIZE];
    int from_config;
    char lang[8];                 /* the UI's language the user chose ("" : none) */
} user;

typedef struct api_token {
    char id[24];
    char name[64];
    webui_role role;
    char sha256[65];
    char created_at[40];
    char created_by[64];
    int64_t expires_wall_us;      /* 0: never */
} api_token;

typedef struct session {
    char id[48];
    char csrf[48];
    char ref[16];                 /* public handle, not a secret */
    char user[64];
    char ip[64];
    webui_role role;
    int64_t created_us, last_seen_us;
    int64_t created_wall_us;
} session;

typedef struct login_failures {
    char ip[64];
    int64_t window_start_us;
    int count;
} login_failures;

/* Failed guesses at one account name, from anywhere. */
typedef struct account_failures {
    char name[64];
    int failures;                 /* since the last success */
    int pending;                  /* let through, verdict not yet known */
    int64_t last_failure_us;
    int64_t locked_until_us;
} account_failures;

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
    account_failures accounts[MAX_ACCOUNTS];
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
int webui_auth_hash_password(const char *password, char *out, size_t out_size)
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

int webui_auth_password_acceptable(const char *password, char *err, size_t err_size)
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

void webui_auth_set_settings(webui_auth *a, const webui_auth_settings *s)
{
    if (a)
        a->s = *s;
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

static int valid_lang(const char *lang)
{
    return !strcmp(lang, "zh") || !strcmp(lang, "en");
}

/* A record's "lang", as hostile as the rest of the file: only a language
 * the UI has is taken. */
static void take_lang(webui_auth *a, user *u, const cJSON *lang)
{
    if (!lang || cJSON_IsNull(lang))
        return;
    if (!cJSON_IsString(lang) || !valid_lang(lang->valuestring)) {
        LB_LOGW("webui", "%s: user '%s': ignoring a \"lang\" that is not zh or en", a->users_file,
                u->name);
        return;
    }
    snprintf(u->lang, sizeof u->lang, "%s", lang->valuestring);
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
        take_lang(a, u, cJSON_GetObjectItemCaseSensitive(it, "lang"));
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "profiles")) {
        const char *name = json_str(it, "name");
        user *u = name ? find_user(a, name) : NULL;
        if (u && u->from_config)
            take_lang(a, u, cJSON_GetObjectItemCaseSensitive(it, "lang"));
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "tokens")) {
        const char *id = json_str(it, "id"), *sha = json_str(it, "sha256");
        const char *name = json_str(it, "name"), *created = json_str(it, "created_at");
        const char *by = json_str(it, "created_by"), *expires = json_str(it, "expires_at");
        webui_role role = webui_role_from_name(json_str(it, "role"));
        int64_t expires_us = 0;
        if (!id || !sha || !role || strlen(sha) != 64 || strlen(id) >= 24 ||
            a->nb_tokens >= MAX_TOKENS)
            continue;
        if (expires && webui_parse_iso8601(expires, &expires_us) < 0) {
            /* Unreadable expiry: the token is not kept alive by accident. */
            LB_LOGW("webui", "%s: token %s has a bad expires_at; skipped", a->users_file, id);
            continue;
        }
        api_token *t = &a->tokens[a->nb_tokens++];
        snprintf(t->id, sizeof t->id, "%s", id);
        snprintf(t->sha256, sizeof t->sha256, "%s", sha);
        snprintf(t->name, sizeof t->name, "%s", name ? name : "");
        snprintf(t->created_at, sizeof t->created_at, "%s", created ? created : "");
        snprintf(t->created_by, sizeof t->created_by, "%s", by ? by : "");
        t->expires_wall_us = expires_us;
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
    cJSON *root = cJSON_CreateObject(), *users, *tokens;
    char *text = NULL;
    int ret = AVERROR(ENOMEM);

    if (!root || !(users = cJSON_AddArrayToObject(root, "users")) ||
        !(tokens = cJSON_AddArrayToObject(root, "tokens")))
        goto fail;
    cJSON *profiles = NULL;
    for (int i = 0; i < a->nb_users; i++) {
        const user *u = &a->users[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            continue;
        cJSON_AddStringToObject(o, "name", u->name);
        if (u->from_config) {
            /* its record is the config's: only its choices are kept here */
            if (u->lang[0] && (profiles || (profiles = cJSON_AddArrayToObject(root, "profiles")))) {
                cJSON_AddStringToObject(o, "lang", u->lang);
                cJSON_AddItemToArray(profiles, o);
            } else {
                cJSON_Delete(o);
            }
            continue;
        }
        cJSON_AddStringToObject(o, "role", webui_role_name(u->role));
        cJSON_AddStringToObject(o, "hash", u->hash);
        if (u->lang[0])
            cJSON_AddStringToObject(o, "lang", u->lang);
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
        cJSON_AddStringToObject(o, "created_by", t->created_by);
        if (t->expires_wall_us) {
            char when[40];
            lb_clock_iso8601(t->expires_wall_us, when, sizeof when);
            cJSON_AddStringToObject(o, "expires_at", when);
        }
        cJSON_AddItemToArray(tokens, o);
    }
    if (!(text = cJSON_Print(root)))
        goto fail;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line)
        goto fail;
    text = line;
    text[len] = '\n';
    /* temp file (0600: hashes), fsync, rename, fsync of the folder */
    if ((ret = lb_write_file_atomic(a->users_file, text, len + 1, 0600)) < 0) {
        snprintf(err, err_size, "cannot write %s: %s", a->users_file, av_err2str(ret));
        goto fail;
    }
fail:
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

/* What an addition needs besides the hash: 0, or a negative AVERROR with
 * err (a user of that name may come meanwhile: _hashed checks again). */
static int user_addable(webui_auth *a, const char *name, webui_role role, char *err, size_t err_size)
{
    if (!valid_name(name)) {
        snprintf(err, err_size, "invalid user name (letters, digits, . _ - @; up to 63)");
        return AVERROR(EINVAL);
    }
    if (!role) {
        snprintf(err, err_size, "role must be admin, operator, teacher or viewer");
        return AVERROR(EINVAL);
    }
    if (find_user(a, name)) {
        snprintf(err, err_size, "user '%s' exists", name);
        return AVERROR(EEXIST);
    }
    if (a->nb_users >= MAX_USERS) {
        snprintf(err, err_size, "too many users");
        return AVERROR(ENOSPC);
    }
    return 0;
}

int webui_auth_user_add_check(webui_auth *a, const char *name, const char *password, webui_role role,
                              char *err, size_t err_size)
{
    int ret = user_addable(a, name, role, err, err_size);
    if (ret < 0)
        return ret;
    if (!webui_auth_password_acceptable(password, err, err_size))
        return AVERROR(EINVAL);
    return 0;
}

int webui_auth_user_add_hashed(webui_auth *a, const char *name, const char *hash, webui_role role,
                               char *err, size_t err_size)
{
    user *u;
    int ret = user_addable(a, name, role, err, err_size);
    if (ret < 0)
        return ret;
    if (!*hash) {
        snprintf(err, err_size, "cannot hash the password");
        return AVERROR(EIO);
    }
    u = &a->users[a->nb_users];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->hash, sizeof u->hash, "%s", hash);
    u->role = role;
    a->nb_users++;
    if ((ret = save(a, err, err_size)) < 0) {
        a->nb_users--;
        return ret;
    }
    LB_LOGI("webui", "user '%s' added with role %s", name, webui_role_name(role));
    return 0;
}

int webui_auth_user_add(webui_auth *a, const char *name, const char *password, webui_role role,
                        char *err, size_t err_size)
{
    char hash[CRYPT_OUTPUT_SIZE];
    int ret = webui_auth_user_add_check(a, name, password, role, err, err_size);
    if (ret < 0)
        return ret;
    if ((ret = webui_auth_hash_password(password, hash, sizeof hash)) < 0) {
        snprintf(err, err_size, "cannot hash the password");
        return ret;
    }
    ret = webui_auth_user_add_hashed(a, name, hash, role, err, err_size);
    explicit_bzero(hash, sizeof hash);
    return ret;
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

static int seconds_until(int64_t when_us, int64_t now_us)
{
    int64_t left = when_us - now_us;
    return left <= 0 ? 1 : (int)((left + 999999) / 1000000);
}

/* The entry of an account name; a new one takes a free slot, else the
 * stalest entry of a name that is no user (users' entries stay). */
static account_failures *account_of(webui_auth *a, const char *name)
{
    int64_t now = lb_clock_now(), forget_us = 4 * (int64_t)a->s.login_backoff_max_s * 1000000;
    account_failures *free_slot = NULL, *victim = NULL, *slot;
    for (int i = 0; i < MAX_ACCOUNTS; i++) {
        account_failures *e = &a->accounts[i];
        if (e->name[0] && !e->pending && now - e->last_failure_us >= forget_us &&
            now >= e->locked_until_us)
            memset(e, 0, sizeof *e);            /* a quiet spell: forgotten */
        if (e->name[0] && !strcmp(e->name, name))
            return e;
        if (!e->name[0]) {
            if (!free_slot)
                free_slot = e;
        } else if (!e->pending && !find_user(a, e->name) &&
                   (!victim || e->last_failure_us < victim->last_failure_us)) {
            victim = e;
        }
    }
    if (!(slot = free_slot ? free_slot : victim))
        return NULL;
    memset(slot, 0, sizeof *slot);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    return slot;
}

int webui_auth_attempt(webui_auth *a, const char *ip, const char *name, int *retry_after_s)
{
    int64_t now = lb_clock_now();
    login_failures *f = failures_of(a, ip, 1);
    account_failures *acc = NULL;
    int dummy;

    if (!retry_after_s)
        retry_after_s = &dummy;
    *retry_after_s = 0;
    if (!f)
        return AVERROR(ENOMEM);
    if (f->count >= a->s.login_max_failures) {
        *retry_after_s = seconds_until(f->window_start_us +
                                       (int64_t)a->s.login_window_s * 1000000, now);
        return AVERROR(EAGAIN);
    }
    if (name) {
        if (!(acc = account_of(a, name)))
            return AVERROR(EAGAIN);        /* every slot busy with a pending guess */
        if (now < acc->locked_until_us) {
            *retry_after_s = seconds_until(acc->locked_until_us, now);
            return AVERROR(EAGAIN);
        }
        /* Past the free failures, one guess at a time. */
        if (acc->pending && acc->failures + acc->pending >= a->s.login_max_failures) {
            *retry_after_s = 1;
            return AVERROR(EAGAIN);
        }
        acc->pending++;
    }
    /* Counted as failed until it succeeds, so that parallel attempts cannot
     * slip past the limit while their hashes are being checked. */
    f->count++;
    return 0;
}

void webui_auth_attempt_done(webui_auth *a, const char *ip, const char *name, int ok)
{
    login_failures *f = failures_of(a, ip, 0);
    account_failures *acc = NULL;

    for (int i = 0; name && i < MAX_ACCOUNTS; i++)
        if (a->accounts[i].name[0] && !strcmp(a->accounts[i].name, name))
            acc = &a->accounts[i];
    if (acc && acc->pending > 0)
        acc->pending--;
    if (ok < 0) {                          /* never checked: as if never tried */
        if (f && f->count > 0)
            f->count--;
        return;
    }
    if (ok) {
        if (f && f->count > 0)
            f->count--;
        if (acc) {
            acc->failures = 0;
            acc->locked_until_us = 0;
        }
        return;
    }
    if (!acc)
        return;
    int64_t now = lb_clock_now(), cap_us = (int64_t)a->s.login_backoff_max_s * 1000000;
    acc->failures++;
    acc->last_failure_us = now;
    int over = acc->failures - a->s.login_max_failures;
    if (over >= 0) {
        int64_t lock_us = over >= 40 ? cap_us : ((int64_t)1000000 << over);
        if (lock_us > cap_us)
            lock_us = cap_us;
        acc->locked_until_us = now + lock_us;
        LB_LOGW("webui", "account '%s': %d failed password attempts; locked for %lld s",
                name, acc->failures, (long long)(lock_us / 1000000));
    }
}

static int session_expired(const webui_auth *a, const session *s, int64_t now)
{
    return now - s->last_seen_us > (int64_t)a->s.session_idle_s * 1000000 ||
           now - s->created_us > (int64_t)a->s.session_max_s * 1000000;
}

int webui_auth_user_revoke(webui_auth *a, const char *name, const char *keep_id)
{
    int n = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (!s->id[0] || strcmp(s->user, name) ||
            (keep_id && keep_id[0] && webui_secret_equal(s->id, keep_id)))
            continue;
        n += !session_expired(a, s, lb_clock_now());
        memset(s, 0, sizeof *s);
    }
    if (n)
        LB_LOGI("webui", "ended %d session(s) of '%s'", n, name);
    return n;
}

/* Nobody could administer the appliance without u: the UI disables its
 * delete and demote, the API refuses them (409). */
static int is_last_admin(const webui_auth *a, const user *u)
{
    int admins = 0;
    for (int i = 0; i < a->nb_users; i++)
        admins += a->users[i].role == WEBUI_ROLE_ADMIN;
    return u->role == WEBUI_ROLE_ADMIN && admins == 1;
}

int webui_auth_user_delete(webui_auth *a, const char *name, char *err, size_t err_size)
{
    user *u = find_user(a, name);
    int ret;

    if (!u) {
        snprintf(err, err_size, "no user '%s'", name);
        return AVERROR(ENOENT);
    }
    if (u->from_config) {
        snprintf(err, err_size, "user '%s' comes from the config file", name);
        return AVERROR(EPERM);
    }
    if (is_last_admin(a, u)) {
        snprintf(err, err_size, "cannot delete the last administrator");
        return AVERROR(EBUSY);
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
    webui_auth_user_revoke(a, name, NULL);
    LB_LOGI("webui", "user '%s' deleted", name);
    return 0;
}

int webui_auth_user_set_hash(webui_auth *a, const char *name, const char *hash,
                             const char *keep_id, char *err, size_t err_size)
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
    if (!hash[0] || strlen(hash) >= sizeof u->hash) {
        snprintf(err, err_size, "cannot hash the password");
        return AVERROR(EIO);
    }
    memcpy(old, u->hash, sizeof old);
    snprintf(u->hash, sizeof u->hash, "%s", hash);
    if ((ret = save(a, err, err_size)) < 0) {
        memcpy(u->hash, old, sizeof old);
        return ret;
    }
    /* Whoever knew the old password is logged out everywhere else. */
    webui_auth_user_revoke(a, name, keep_id);
    LB_LOGI("webui", "password of '%s' changed", name);
    return 0;
}

int webui_auth_user_password(webui_auth *a, const char *name, const char *password,
                             const char *keep_id, char *err, size_t err_size)
{
    char hash[CRYPT_OUTPUT_SIZE];
    user *u = find_user(a, name);
    int ret;

    if (!u) {
        snprintf(err, err_size, "no user '%s'", name);
        return AVERROR(ENOENT);
    }
    if (u->from_config) {
        snprintf(err, err_size, "this password is set in the config file");
        return AVERROR(EPERM);
    }
    if (!webui_auth_password_acceptable(password, err, err_size))
        return AVERROR(EINVAL);
    if ((ret = webui_auth_hash_password(password, hash, sizeof hash)) < 0) {
        snprintf(err, err_size, "cannot hash the password");
        return ret;
    }
    return webui_auth_user_set_hash(a, name, hash, keep_id, err, err_size);
}

int webui_auth_user_role(webui_auth *a, const char *name, webui_role role, char *err,
                         size_t err_size)
{
    user *u = find_user(a, name);
    int ret;

    if (!u) {
        snprintf(err, err_size, "no user '%s'", name);
        return AVERROR(ENOENT);
    }
    if (!role) {
        snprintf(err, err_size, "role must be admin, operator, teacher or viewer");
        return AVERROR(EINVAL);
    }
    if (u->from_config) {
        snprintf(err, err_size, "user '%s' comes from the config file", name);
        return AVERROR(EPERM);
    }
    if (u->role == role)
        return 0;
    if (is_last_admin(a, u)) {
        snprintf(err, err_size, "cannot demote the last administrator");
        return AVERROR(EBUSY);
    }
    webui_role old = u->role;
    u->role = role;
    if ((ret = save(a, err, err_size)) < 0) {
        u->role = old;
        return ret;
    }
    /* Sessions carry the role they were made with: they log in again. */
    webui_auth_user_revoke(a, name, NULL);
    LB_LOGI("webui", "user '%s' is now %s (was %s)", name, webui_role_name(role),
            webui_role_name(old));
    return 0;
}

int webui_auth_user_set_lang(webui_auth *a, const char *name, const char *lang, char *err,
                             size_t err_size)
{
    user *u = find_user(a, name);
    int ret;

    if (!u) {
        snprintf(err, err_size, "no user '%s'", name);
        return AVERROR(ENOENT);
    }
    if (lang[0] && !valid_lang(lang)) {
        snprintf(err, err_size, "'lang' must be \"zh\" or \"en\" (or null: none)");
        return AVERROR(EINVAL);
    }
    if (!strcmp(u->lang, lang))
        return 0;
    char old[sizeof u->lang];
    memcpy(old, u->lang, sizeof old);
    snprintf(u->lang, sizeof u->lang, "%s", lang);
    if ((ret = save(a, err, err_size)) < 0) {
        memcpy(u->lang, old, sizeof old);
        return ret;
    }
    LB_LOGI("webui", "user '%s' chose the language %s", name, lang[0] ? lang : "(none)");
    return 0;
}

const char *webui_auth_user_lang(webui_auth *a, const char *name)
{
    user *u = find_user(a, name);
    return u ? u->lang : "";
}

webui_role webui_auth_user_role_of(webui_auth *a, const char *name)
{
    user *u = find_user(a, name);
    return u ? u->role : WEBUI_ROLE_NONE;
}

cJSON *webui_auth_users_json(const webui_auth *a)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < a->nb_users; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", a->users[i].name);
        cJSON_AddStringToObject(o, "role", webui_role_name(a->users[i].role));
        cJSON_AddBoolToObject(o, "from_config", a->users[i].from_config);
        cJSON_AddBoolToObject(o, "last_admin", is_last_admin(a, &a->users[i]));
        if (a->users[i].lang[0])
            cJSON_AddStringToObject(o, "lang", a->users[i].lang);
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

/* Every user's quota fits, so a free slot exists whenever the user is
 * under theirs: nobody's login can end someone else's session. */
_Static_assert(MAX_SESSIONS >= MAX_USERS * MAX_SESSIONS_PER_USER, "a quota per user");

static void new_session(webui_auth *a, const char *name, webui_role role, const char *ip,
                        webui_principal *who)
{
    session *slot = NULL, *oldest = NULL;
    int64_t now = lb_clock_now();
    int mine = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (s->id[0] && session_expired(a, s, now))
            memset(s, 0, sizeof *s);
        if (!s->id[0]) {
            if (!slot)
                slot = s;
            continue;
        }
        if (strcmp(s->user, name))
            continue;
        mine++;
        if (!oldest || s->created_us < oldest->created_us)
            oldest = s;
    }
    if (mine >= MAX_SESSIONS_PER_USER) {
        LB_LOGI("webui", "'%s' has %d sessions: the oldest ends", name, mine);
        slot = oldest;                            /* the user's own oldest goes */
    }
    memset(who, 0, sizeof *who);
    if (!slot)
        return;
    memset(slot, 0, sizeof *slot);
    if (random_token(slot->id, sizeof slot->id, 32) < 0 ||
        random_token(slot->csrf, sizeof slot->csrf, 32) < 0 ||
        random_token(slot->ref, sizeof slot->ref, 9) < 0) {
        memset(slot, 0, sizeof *slot);
        return;
    }
    snprintf(slot->user, sizeof slot->user, "%s", name);
    snprintf(slot->ip, sizeof slot->ip, "%s", ip);
    slot->role = role;
    slot->created_us = slot->last_seen_us = now;
    slot->created_wall_us = lb_clock_wall_us();
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
                           size_t hash_size, int *retry_after_s)
{
    int ret = webui_auth_attempt(a, ip, name, retry_after_s);
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
    webui_auth_attempt_done(a, ip, name, u && password_ok);
    if (!u || !password_ok) {
        LB_LOGW("webui", "failed login for '%s' from %s", name, ip);
        return AVERROR(EACCES);
    }
    new_session(a, u->name, u->role, ip, who);
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
    int ret = webui_auth_login_begin(a, ip, name, hash, sizeof hash, NULL);
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

struct lb_webui_sessions {
    session sessions[MAX_SESSIONS];
    login_failures fails[MAX_FAIL_IPS];
    account_failures accounts[MAX_ACCOUNTS];
    char hash_sha256[MAX_SESSIONS][65]; /* of each session's user's hash then */
};

lb_webui_sessions *webui_auth_save(const webui_auth *a)
{
    lb_webui_sessions *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    memcpy(s->sessions, a->sessions, sizeof s->sessions);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        const user *u = NULL;
        s->hash_sha256[i][0] = 0;
        for (int j = 0; s->sessions[i].id[0] && j < a->nb_users; j++)
            if (!strcmp(a->users[j].name, s->sessions[i].user))
                u = &a->users[j];
        if (u)
            sha256_hex(u->hash, s->hash_sha256[i]);
    }
    memcpy(s->fails, a->fails, sizeof s->fails);
    memcpy(s->accounts, a->accounts, sizeof s->accounts);
    /* The old web UI's hasher drops its queued guesses without their
     * verdict: carried, they would lock the account for good.  Like a
     * verdict that could not be had, they count as never tried. */
    for (int i = 0; i < MAX_ACCOUNTS; i++)
        s->accounts[i].pending = 0;
    return s;
}

/* Same process, same monotonic clock: the times carry as they are.  The
 * new settings' limits apply from now on. */
void webui_auth_restore(webui_auth *a, const lb_webui_sessions *s)
{
    int kept = 0, ended = 0;
    int64_t now = lb_clock_now();
    memcpy(a->fails, s->fails, sizeof a->fails);
    memcpy(a->accounts, s->accounts, sizeof a->accounts);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        const session *from = &s->sessions[i];
        if (!from->id[0] || session_expired(a, from, now))
            continue;
        const user *u = find_user(a, from->user);
        char sha[65] = "";
        if (u)
            sha256_hex(u->hash, sha);
        /* A password changed in the config or the users file: whoever knew
         * the old one is logged out, as webui_auth_user_set_hash() does. */
        if (!u || u->role != from->role || !s->hash_sha256[i][0] ||
            !webui_secret_equal(sha, s->hash_sha256[i])) {
            ended++;
            continue;
        }
        a->sessions[i] = *from;
        kept++;
    }
    if (kept || ended)
        LB_LOGI("webui", "the new web UI keeps %d session(s)%s", kept,
                ended ? "; those of users gone, with another role or password end" : "");
}

void lb_webui_sessions_free(lb_webui_sessions **s)
{
    if (!s || !*s)
        return;
    explicit_bzero(*s, sizeof **s);
    free(*s);
    *s = NULL;
}

int webui_auth_session(webui_auth *a, const char *session_id, webui_principal *who)
{
    int64_t now = lb_clock_now();
    if (!session_id || strlen(session_id) < 32)
        return AVERROR(ENOENT);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (!s->id[0] || !webui_secret_equal(s->id, session_id))
            continue;
        if (session_expired(a, s, now)) {
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
        const api_token *t = &a->tokens[i];
        if (!webui_secret_equal(t->sha256, sha))
            continue;
        memset(who, 0, sizeof *who);
        if (t->expires_wall_us && lb_clock_wall_us() >= t->expires_wall_us) {
            char when[40];
            lb_clock_iso8601(t->expires_wall_us, when, sizeof when);
            snprintf(who->auth_error, sizeof who->auth_error, "API token '%s' expired at %s",
                     t->name, when);
            return AVERROR(EACCES);
        }
        who->role = t->role;
        who->via = WEBUI_VIA_TOKEN;
        snprintf(who->user, sizeof who->user, "token:%s", t->name);
        snprintf(who->token_id, sizeof who->token_id, "%s", t->id);
        return 0;
    }
    return AVERROR(ENOENT);
}

int webui_auth_still_valid(webui_auth *a, const webui_principal *who)
{
    int64_t now = lb_clock_now();
    if (who->via == WEBUI_VIA_SESSION) {
        for (int i = 0; i < MAX_SESSIONS; i++) {
            const session *s = &a->sessions[i];
            if (s->id[0] && webui_secret_equal(s->id, who->session_id))
                return !session_expired(a, s, now);
        }
        return 0;
    }
    if (who->via == WEBUI_VIA_TOKEN) {
        for (int i = 0; i < a->nb_tokens; i++) {
            const api_token *t = &a->tokens[i];
            if (!strcmp(t->id, who->token_id))
                return !t->expires_wall_us || lb_clock_wall_us() < t->expires_wall_us;
        }
        return 0;
    }
    return 1;
}

cJSON *webui_auth_sessions_json(webui_auth *a, const char *name, const char *current_id)
{
    cJSON *arr = cJSON_CreateArray();
    int64_t now = lb_clock_now();
    for (int i = 0; arr && i < MAX_SESSIONS; i++) {
        const session *s = &a->sessions[i];
        char when[40];
        if (!s->id[0] || session_expired(a, s, now) || (name && strcmp(s->user, name)))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "ref", s->ref);
        cJSON_AddStringToObject(o, "user", s->user);
        cJSON_AddStringToObject(o, "role", webui_role_name(s->role));
        cJSON_AddStringToObject(o, "ip", s->ip);
        cJSON_AddStringToObject(o, "created_at",
                                lb_clock_iso8601(s->created_wall_us, when, sizeof when));
        cJSON_AddNumberToObject(o, "idle_s", (double)((now - s->last_seen_us) / 1000000));
        cJSON_AddBoolToObject(o, "current",
                              current_id && current_id[0] && webui_secret_equal(s->id, current_id));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int webui_auth_session_revoke(webui_auth *a, const char *ref, const char *name)
{
    for (int i = 0; ref[0] && i < MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (!s->id[0] || strcmp(s->ref, ref) || (name && strcmp(s->user, name)))
            continue;
        LB_LOGI("webui", "session %s of '%s' ended", s->ref, s->user);
        memset(s, 0, sizeof *s);
        return 0;
    }
    return AVERROR(ENOENT);
}

cJSON *webui_auth_tokens_json(const webui_auth *a)
{
    cJSON *arr = cJSON_CreateArray();
    int64_t now = lb_clock_wall_us();
    for (int i = 0; arr && i < a->nb_tokens; i++) {
        const api_token *t = &a->tokens[i];
        cJSON *o = cJSON_CreateObject();
        char when[40];
        cJSON_AddStringToObject(o, "id", t->id);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "role", webui_role_name(t->role));
        cJSON_AddStringToObject(o, "created_at", t->created_at);
        if (t->created_by[0])
            cJSON_AddStringToObject(o, "created_by", t->created_by);
        else
            cJSON_AddNullToObject(o, "created_by");      /* made before it was recorded */
        if (t->expires_wall_us)
            cJSON_AddStringToObject(o, "expires_at",
                                    lb_clock_iso8601(t->expires_wall_us, when, sizeof when));
        else
            cJSON_AddNullToObject(o, "expires_at");
        cJSON_AddBoolToObject(o, "expired", t->expires_wall_us && now >= t->expires_wall_us);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no timegm(), no TZ environment involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *p, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        *out = *out * 10 + (p[i] - '0');
    }
    return 0;
}

int webui_parse_iso8601(const char *t, int64_t *wall_us)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    int64_t frac_us = 0;

    if (strlen(t) < 20 || digits(t, 4, &y) || t[4] != '-' || digits(t + 5, 2, &mo) ||
        t[7] != '-' || digits(t + 8, 2, &d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
        digits(t + 11, 2, &h) || t[13] != ':' || digits(t + 14, 2, &mi) || t[16] != ':' ||
        digits(t + 17, 2, &sec))
        return AVERROR(EINVAL);
    const char *p = t + 19;
    if (*p == '.') {
        int64_t scale = 100000;
        if (p[1] < '0' || p[1] > '9')
            return AVERROR(EINVAL);
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac_us += (*p - '0') * scale;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && !digits(p + 1, 2, &oh) && p[3] == ':' &&
               !digits(p + 4, 2, &om)) {
        sign = *p == '-' ? -1 : 1;
        p += 6;
    } else {
        return AVERROR(EINVAL);
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400))) || h > 23 || mi > 59 ||
        sec > 60 || oh > 23 || om > 59)
        return AVERROR(EINVAL);
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
                   sign * (oh * 3600 + om * 60);
    *wall_us = secs * 1000000 + frac_us;
    return 0;
}

int webui_auth_token_create(webui_auth *a, const char *name, webui_role role,
                            const char *created_by, int64_t expires_wall_us, char *token,
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
    snprintf(t->created_by, sizeof t->created_by, "%s", created_by ? created_by : "");
    t->expires_wall_us = expires_wall_us;
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
