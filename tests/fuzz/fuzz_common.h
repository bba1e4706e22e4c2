/* What the harnesses share: scratch folders, input as text, failing. */
#ifndef LB_FUZZ_COMMON_H
#define LB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Makes a fresh folder under $TMPDIR (else /dev/shm, else /tmp) for this process, removed at exit;
 * returns its absolute path. */
const char *fuzz_scratch_dir(const char *harness);
/* The input as a NUL-terminated string (cut at its first NUL). */
char *fuzz_strndup(const uint8_t *data, size_t size);
/* The whole file at path, NUL-terminated (its length in *size when size
 * is not NULL), or NULL when it cannot be opened; aborts out of memory. */
char *fuzz_read_file(const char *path, size_t *size);
/* Writes size bytes to path (replacing it); aborts on failure. */
void fuzz_write_file(const char *path, const void *data, size_t size);
/* Removes path and everything under it. */
void fuzz_remove_tree(const char *path);
/* For LLVMFuzzerInitialize: adds -dict=path to the command line unless it
 * names a dictionary already (libFuzzer reads its flags after Initialize). */
void fuzz_use_dict(int *argc, char ***argv, const char *path);
/* Appends one dictionary entry ("text", escaped as libFuzzer wants). */
void fuzz_dict_entry(FILE *f, const char *text);
/* Writes words as the dictionary dir/NAME.dict and uses it (fuzz_use_dict). */
void fuzz_use_words(int *argc, char ***argv, const char *dir, const char *name,
                    const char *const *words, size_t nb_words);

/* A violated property: prints it and aborts, which libFuzzer reports as a
 * crash with the input that caused it. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
