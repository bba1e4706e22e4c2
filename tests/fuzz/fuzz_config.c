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
#include "lb_config.h"
#include "lb_log.h"
#include "streamer_priv.h"
#include "webui.h"

/* The dictionary comes from the option tables themselves, so it names
 * every key and choice of this build. */
static void write_dict(const char *path)
{
    static const char *const sections[] = {
        "[general]", "[source.", "[mic.", "[director]", "[encoder]", "[output.", "[auth]",
        "[webui]",
    };
    const lb_option *const tables[] = {
        lb_general_options, lb_webui_general_options, lb_source_options, lb_mic_options,
        lb_director_options, lb_compositor_options, lb_encoder_options, lb_auth_options,
        lb_webui_options,
        lb_output_archive.options, lb_output_hls.options, lb_output_srt.options,
        lb_output_upload.options,
    };
    const lb_output_ops *const outputs[] = {
        &lb_output_archive, &lb_output_hls, &lb_output_srt, &lb_output_upload,
    };
    FILE *f = fopen(path, "w");
    if (!f)
        fuzz_fail("cannot write %s", path);
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        fuzz_dict_entry(f, sections[i]);
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
        fuzz_dict_entry(f, outputs[i]->kind);
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const lb_option *o = tables[t]; o && o->name; o++) {
            char line[128];
            snprintf(line, sizeof line, "%s = ", o->name);
            fuzz_dict_entry(f, line);
            for (const lb_option_choice *c = o->choices; c && c->name; c++)
                fuzz_dict_entry(f, c->name);
        }
    }
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
