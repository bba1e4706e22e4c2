/* Where an installed luobo finds its files. */
#include "daemon.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

const char *lb_default_www_dir(void)
{
    static char dir[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        size_t build_len = strlen(LUOBO_BUILD_DIR);
        /* a developer's binary serves the UI being edited */
        if (!strncmp(exe, LUOBO_BUILD_DIR "/", build_len + 1))
            return LUOBO_SOURCE_WWW_DIR;
        /* an installed tree that was moved (or staged with DESTDIR) */
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(dir, sizeof dir, "%s/../share/luobo/www", exe);
            if (is_dir(dir))
                return dir;
        }
    }
    return LUOBO_INSTALL_WWW_DIR;
}
