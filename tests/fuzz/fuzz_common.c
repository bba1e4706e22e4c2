#include "fuzz_common.h"
#include "lb_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char scratch[PATH_MAX];

static void remove_scratch(void)
{
    fuzz_remove_tree(scratch);
}

const char *fuzz_scratch_dir(const char *harness)
{
    /* tmpfs when there is one: the code under test fsyncs what it writes */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/luobo-fuzz-%s-XXXXXX", tmp, harness);
    if (!mkdtemp(scratch))
        fuzz_fail("cannot make a scratch folder %s: %s", scratch, strerror(errno));
    atexit(remove_scratch);
    return scratch;
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

char *fuzz_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (!f)
        return NULL;
    do {
        if (len + 4096 + 1 > cap && !(buf = realloc(buf, cap = cap * 2 + 4097)))
            abort();
        len += n = fread(buf + len, 1, 4096, f);
    } while (n);
    fclose(f);
    buf[len] = 0;
    if (size)
        *size = len;
    return buf;
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) < 0)
        fuzz_fail("cannot write %s: %s", path, strerror(errno));
}

void fuzz_use_dict(int *argc, char ***argv, const char *path)
{
    static char *args[256];
    static char flag[PATH_MAX + 8];
    for (int i = 1; i < *argc; i++)
        if (!strncmp((*argv)[i], "-dict=", 6))
            return;
    if (*argc + 2 > (int)(sizeof args / sizeof args[0]))
        return;
    snprintf(flag, sizeof flag, "-dict=%s", path);
    memcpy(args, *argv, sizeof *args * (size_t)*argc);
    args[*argc] = flag;
    args[*argc + 1] = NULL;
    *argc += 1;
    *argv = args;
}

void fuzz_dict_entry(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\x%02X", *p);
        else
            fputc(*p, f);
    }
    fputs("\"\n", f);
}

void fuzz_remove_tree(const char *path)
{
    lb_remove_tree(path);
}

void fuzz_fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "==fuzz== property violated: %s\n", msg);
    abort();
}

void fuzz_use_words(int *argc, char ***argv, const char *dir, const char *name,
                    const char *const *words, size_t nb_words)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.dict", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fuzz_fail("cannot write %s", path);
    for (size_t i = 0; i < nb_words; i++)
        fuzz_dict_entry(f, words[i]);
    fclose(f);
    fuzz_use_dict(argc, argv, path);
}
