/* fuzz_config: a configuration file, as `luobo --check-config` reads it.
 *
 * The input is the INI text.  It is parsed by core/lb_config.c and then
 * checked by the daemon's own validation, lb_pipeline_create(): every
 * module's option table ([general], [source.*], [mic.*], [director],
 * [encoder], [output.*], [auth]) and every check after them, without
 * starting a thread or opening a device.
 *
 * Oracle beyond the sanitizers: a refused file always says why, in one
 * line that names the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "daemon.h"
#include "director.h"
#include "encoder.h"
#include "fuzz_common.h"
#include "health.h"
#include "lb_config.h"
#include "lb_log.h"
#include "streamer.h"
#include "webhook.h"
#include "webui.h"

/* The dictionary comes from the option tables themselves, so it names
 * every section, key and choice of this build.  Called like --help's
 * printer with a section title ("source.NAME", "general (web UI)",
 * "output.NAME, type = hls"). */
static void dict_table(FILE *f, const char *section, const lb_option *opts)
{
    char entry[128];
    size_t kind = strcspn(section, ". ,(");
    snprintf(entry, sizeof entry, "[%.*s%s", (int)kind, section, section[kind] == '.' ? "." : "]");
    fuzz_dict_entry(f, entry);
    const char *type = strstr(section, "type = ");
    if (type)
        fuzz_dict_entry(f, type + 7);
    for (const lb_option *o = opts; o && o->name; o++) {
        snprintf(entry, sizeof entry, "%s = ", o->name);
        fuzz_dict_entry(f, entry);
        for (const lb_option_choice *c = o->choices; c && c->name; c++)
            fuzz_dict_entry(f, c->name);
    }
}

static void write_dict(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fuzz_fail("cannot write %s", path);
    /* the tables of the daemon's lb_print_config_tables() (in main.c) */
    dict_table(f, "general", lb_general_options);
    dict_table(f, "general (web UI)", lb_webui_general_options);
    dict_table(f, "source.NAME", lb_source_options);
    dict_table(f, "mic.NAME", lb_mic_options);
    dict_table(f, "director", lb_director_options);
    dict_table(f, "director (layouts)", lb_compositor_options);
    dict_table(f, "encoder", lb_encoder_options);
    dict_table(f, "auth", lb_auth_options);
    dict_table(f, "webui", lb_webui_options);
    dict_table(f, "health", lb_health_options);
    dict_table(f, "alerts", lb_alerts_options);
    lb_streamer_print_options(f, dict_table);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dict[4096];
    snprintf(dict, sizeof dict, "%s/config.dict", fuzz_scratch_dir("config"));
    write_dict(dict);
    fuzz_use_dict(argc, argv, dict);
    lb_log_route_av();
    return 0;
}

static void check_error(const char *err)
{
    if (!err[0] || strchr(err, '\n'))
        fuzz_fail("config error message is empty or not one line: '%s'", err);
    if (strncmp(err, "fuzz.ini", 8))
        fuzz_fail("config error does not name the file: '%s'", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[LB_CONFIG_ERR_SIZE] = "";
    char *text = fuzz_strndup(data, size);
    lb_config *cfg = NULL;
    lb_pipeline *p = NULL;

    lb_log_set_level(LB_LOG_ERROR);
    if (lb_config_load_string(&cfg, "fuzz.ini", text, err, sizeof err) < 0) {
        check_error(err);
    } else {
        lb_pipeline_params params = { .cfg = cfg };
        if (lb_pipeline_create(&p, &params, err, sizeof err) < 0)
            check_error(err);
        lb_pipeline_free(&p);
    }
    lb_config_free(&cfg);
    free(text);
    return 0;
}
