/* Configuration: one INI file, read with inih, checked against option tables.
 *
 * Each module describes its options once, in a table of lb_option (name,
 * type, offset into the module's settings struct, default, bounds, help).
 * The same table fills the struct, validates it, prints --help and can be
 * shown by the API.  Every key of the file must be consumed by some table:
 * an unknown key or section is an error, never silently ignored.
 *
 * Errors are one line naming file, line, section and key, e.g.
 *   luobo.ini:12: source.teacher: type: unknown value 'v4l' (expected v4l2, url, synthetic)
 *
 * A loaded lb_config is read-only and may be read from any thread; the
 * "used" marks are written only while the daemon applies the tables, which
 * happens on one thread before any module starts. */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef struct lb_config lb_config;
typedef struct lb_config_section lb_config_section;

typedef enum lb_option_type {
    LB_OPT_INVALID = 0,
    LB_OPT_INT,        /* int */
    LB_OPT_DOUBLE,     /* double */
    LB_OPT_BOOL,       /* int, 0 or 1; accepts true/false/yes/no/on/off/1/0 */
    LB_OPT_STRING,     /* char[size] */
    LB_OPT_ENUM,       /* int, one of choices[].value */
    /* Or'ed into a type: the key is live-changeable, i.e. a reload (SIGHUP)
     * applies it to the running daemon at once; a key without it needs the
     * pipeline restarted (which waits for the lesson to end). */
    LB_OPT_LIVE = 0x100,
} lb_option_type;

#define LB_OPT_TYPE_MASK 0xff

typedef struct lb_option_choice {
    const char *name;
    int value;
} lb_option_choice;

typedef struct lb_option {
    const char *name;
    lb_option_type type;            /* a type, possibly | LB_OPT_LIVE */
    size_t offset;                  /* into the settings struct */
    size_t size;                    /* LB_OPT_STRING: size of the char array */
    const char *def;                /* default, written as in the file; NULL = empty/0 */
    double min, max;                /* numbers; min == max means unbounded */
    const lb_option_choice *choices;/* LB_OPT_ENUM, NULL-name terminated */
    const char *help;
} lb_option;

#define LB_CONFIG_ERR_SIZE 512

/* Loads and parses an INI file.  Returns 0, or a negative AVERROR with a
 * one-line message in err.  *cfg is set only on success. */
int lb_config_load_file(lb_config **cfg, const char *path, char *err, size_t err_size);
/* Same, from text; name is used in messages in place of the file name. */
int lb_config_load_string(lb_config **cfg, const char *name, const char *text,
                          char *err, size_t err_size);
/* Accepts NULL and *cfg == NULL; sets *cfg to NULL. */
void lb_config_free(lb_config **cfg);

const char *lb_config_file_name(const lb_config *cfg);
int lb_config_nb_sections(const lb_config *cfg);
const lb_config_section *lb_config_section_at(const lb_config *cfg, int index);
/* By full name ("general", "source.teacher"); NULL if absent. */
const lb_config_section *lb_config_find(const lb_config *cfg, const char *name);

/* Section names are checked while the file is read: [kind] or [kind.NAME],
 * kind in lowercase letters, digits and '_', NAME as lb_config_valid_name(),
 * each section once.  So an instance name is safe in file and thread
 * names, log lines and metric labels. */
const char *lb_config_section_name(const lb_config_section *sec);     /* "source.teacher" */
const char *lb_config_section_kind(const lb_config_section *sec);     /* "source" */
const char *lb_config_section_instance(const lb_config_section *sec); /* "teacher", or "" */
int lb_config_section_line(const lb_config_section *sec);
/* Raw value of a key (marks it used), or NULL. */
const char *lb_config_get(const lb_config_section *sec, const char *key);
/* Line of a key in the file, or the section's line if the key is absent. */
int lb_config_key_line(const lb_config_section *sec, const char *key);

/* The keys of a section in file order, with their raw values (neither
 * marks anything used): for comparing two configurations. */
int lb_config_section_nb_keys(const lb_config_section *sec);
const char *lb_config_section_key_at(const lb_config_section *sec, int index);
const char *lb_config_section_value_at(const lb_config_section *sec, int index);

/* 1 when the table marks key live-changeable (LB_OPT_LIVE), 0 when it
 * needs a restart, -1 when the table has no such key. */
int lb_option_is_live(const lb_option *opts, const char *key);

/* Copies the table's live-changeable fields (LB_OPT_LIVE) from src to dst,
 * two structs the table describes: what a reload applies at once. */
void lb_option_copy_live(const lb_option *opts, void *dst, const void *src);

/* Fills dst from the table: defaults first, then the section's values
 * (sec may be NULL: defaults only).  Marks the section and its matched keys
 * used.  Returns 0 or AVERROR(EINVAL) with the message in err. */
int lb_config_apply(const lb_config_section *sec, const lb_option *opts, void *dst,
                    char *err, size_t err_size);

/* 1 when name has 1-32 letters, digits, '-' or '_' (an instance's NAME). */
int lb_config_valid_name(const char *name);

/* Formats a message about a section/key in the standard form
 * "file:line: section: key: message" (key may be NULL: the section's line),
 * with secrets the message quotes redacted (lb_redact_text). */
void lb_config_error(const lb_config_section *sec, const char *key, char *err,
                     size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* After every module applied its tables: the first section or key that
 * nothing consumed is an error.  Returns 0 or AVERROR(EINVAL). */
int lb_config_check_unused(const lb_config *cfg, char *err, size_t err_size);

/* Prints the table for --help, one option a line with type, default and help. */
void lb_options_print(FILE *f, const char *section, const lb_option *opts);
/* The same table as roff for luobo.ini(5): a .SS per section, a .TP per key. */
void lb_options_print_man(FILE *f, const char *section, const lb_option *opts);
/* Either of the two, for modules that print several tables. */
typedef void (*lb_options_printer)(FILE *f, const char *section, const lb_option *opts);
/* Writes text as roff body text (backslashes, leading dots, hyphens,
 * UTF-8 as \[uXXXX]). */
void lb_roff_escape(FILE *f, const char *text);

#endif
