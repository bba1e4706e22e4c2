/* Files that survive a power cut.
 *
 * Two tools, used wherever luobo writes something it must find again after
 * the box lost power:
 *
 * - lb_write_file_atomic() for a state file that is rewritten as a whole
 *   (lesson.json, the upload queue, upload.json, the users file, the web
 *   UI's self-signed certificate and key): temp file
 *   in the same folder, fsync, rename over the old one, fsync the folder.
 *   A reader (or the next start after a crash) sees the old or the new
 *   content, never a torn one.
 *
 * - lb_syncer: a thread that makes appended files durable without making
 *   the writer wait for the disk.  The writer registers its fd, and after
 *   each append (an MP4 fragment, a line of director.jsonl) kicks it; the
 *   syncer's thread runs fdatasync() on it (at most once per the file's
 *   interval; kicks that arrive meanwhile are merged into the next one) and,
 *   before the file's first sync, fsyncs the folders that hold its new
 *   directory entry.  It also takes atomic rewrites off a thread that must
 *   not block (lb_syncer_write_atomic). */
#ifndef LB_FILE_H
#define LB_FILE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Writes data to path atomically: "<path>.tmp" (made anew with mode), fsync,
 * rename over path, fsync of path's folder.  0 or a negative AVERROR (the
 * temp file is removed then; path is untouched).  Any thread; blocks on the
 * disk. */
int lb_write_file_atomic(const char *path, const void *data, size_t size, int mode);

/* fsyncs a folder (after creating or renaming an entry in it).  0 or a
 * negative AVERROR. */
int lb_fsync_dir(const char *dir);

/* fsyncs the folder of path and, for levels > 1, the folders above it. */
int lb_fsync_parents(const char *path, int levels);

/* Removes path and everything under it (rm -r).  A symlink inside is
 * removed, never followed, so a link planted in a lesson folder cannot make
 * luobo delete what it points to.  An entry that cannot be removed does not
 * stop the walk: as much as can go goes.  0, or the negative AVERROR of the
 * first failure (AVERROR(ENOENT) when path is not there).  Any thread;
 * blocks on the disk for as long as the tree takes: never on the lws
 * loop. */
int lb_remove_tree(const char *path);
/* The same, ending early with AVERROR_EXIT once *stop is non-zero (stop
 * may be NULL): what is left stays for the caller to remove later. */
int lb_remove_tree_until(const char *path, const atomic_int *stop);

typedef struct lb_syncer lb_syncer;

typedef struct lb_syncer_stats {
    int64_t syncs;              /* fdatasync calls made */
    int64_t errors;             /* of them failed (logged once per file) */
    int64_t total_us;           /* time spent in fdatasync */
    int64_t p50_us, p99_us, max_us; /* per call, over the last 65536 */
} lb_syncer_stats;

/* Starts the syncer's thread, named name (15 characters at most). */
int lb_syncer_create(lb_syncer **s, const char *name);
/* Does what is queued or kicked, stops the thread, frees.  Every file must
 * have been removed.  Accepts NULL; sets *s to NULL. */
void lb_syncer_free(lb_syncer **s);

/* Registers an open file (the caller keeps fd and must remove it before
 * closing it).  dir_levels: how many folders above path hold a new entry
 * (1: the file is new; 2: its folder is new too); they are fsynced once,
 * before the file's first fdatasync.  min_interval_us: at most one
 * fdatasync of this file per interval (0: after every kick).  Returns an
 * id >= 0, or a negative AVERROR (too many files). */
int lb_syncer_add(lb_syncer *s, int fd, const char *path, int dir_levels, int64_t min_interval_us);
/* New data is in the file: it is fdatasynced soon.  Never waits for I/O
 * (a mutex and a signal); any thread. */
void lb_syncer_kick(lb_syncer *s, int id);
/* Waits for a fdatasync of the file in progress, then forgets the file. */
void lb_syncer_remove(lb_syncer *s, int id);

/* Queues lb_write_file_atomic(path, data, size, mode) on the syncer's
 * thread (data is copied); a rewrite of the same path still queued is
 * replaced by this one.  0 or AVERROR(ENOMEM). */
int lb_syncer_write_atomic(lb_syncer *s, const char *path, const void *data, size_t size, int mode);

/* Waits until every kick and rewrite made before the call is on disk
 * (intervals are not waited for). */
void lb_syncer_flush(lb_syncer *s);

void lb_syncer_get_stats(lb_syncer *s, lb_syncer_stats *st);

/* HTTP credentials kept in a file of their own ([alerts] credentials,
 * [output.NAME] credentials): its first line is user:password (HTTP Basic)
 * or "Bearer TOKEN".  The file must be a regular file owned by the user
 * luobo runs as and readable by nobody else (mode 0600 or stricter);
 * otherwise it is refused.  The secret never appears in a message. */
typedef struct lb_credentials {
    char userpwd[256];          /* Basic: for CURLOPT_USERPWD; or */
    char bearer_header[560];    /* "Authorization: Bearer ..." */
} lb_credentials;

/* 0, or a negative AVERROR with why ("/etc/luobo/up.cred: readable by
 * others (mode 644): chmod 600 it"; no part of the file's content). */
int lb_credentials_read(const char *path, lb_credentials *c, char *why, size_t why_size);
/* Wipes the secret from memory. */
void lb_credentials_clear(lb_credentials *c);

#endif
