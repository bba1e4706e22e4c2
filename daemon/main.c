/* luobo: the lecture recording and streaming daemon.
 *
 * Exit codes (the command-line contract): 0 ok, 1 runtime failure,
 * 2 bad usage or config. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "capture.h"
#include "daemon.h"
#include "director.h"
#include "encoder.h"
#include "health.h"
#include "lb_log.h"
#include "streamer.h"
#include "lb_thread.h"
#include "scheduler.h"
#include "service.h"
#include "webhook.h"
#include "webui.h"

#include <cjson/cJSON.h>
#include <libavutil/error.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
enum { OPT_CHECK = 256, OPT_PRINT_DEMO, OPT_PRINT_MAN, OPT_TEACHER, OPT_SUBJECT, OPT_GRADE,
       OPT_CLASS, OPT_LESSON_TYPE, OPT_DESCRIPTION, OPT_KEYWORDS, OPT_COURSE };

/* The command line, once: getopt's table, --help and luobo(8) are made
 * from it. */
const lb_cli_option lb_cli_options[] = {
    { 'c', "config", "FILE", "read the hall's configuration from FILE (INI)" },
    { 'r', "record", NULL, "start recording at once" },
    { 'd', "duration", "SECONDS", "stop cleanly after this much program time and exit 0" },
    { 'o', "offline", NULL, "run file and synthetic sources as fast as possible" },
    { 't', "title", "TEXT", "title of the lesson started by --record" },
    { OPT_TEACHER, "teacher", "NAME", "the lesson's teacher (lesson.json, episode.xml's creator, the MP4 files' artist)" },
    { OPT_COURSE, "course", "TEXT", "the lesson's course" },
    { OPT_SUBJECT, "subject", "TEXT", "the lesson's subject, e.g. 数学 (the MP4 files' genre)" },
    { OPT_GRADE, "grade", "TEXT", "the lesson's grade, e.g. 初二" },
    { OPT_CLASS, "class", "TEXT", "the lesson's class, e.g. 3班" },
    { OPT_LESSON_TYPE, "lesson-type", "TYPE", "ordinary, open, quality or demonstration (常态课, 公开课, 优质课, 示范课)" },
    { OPT_DESCRIPTION, "description", "TEXT", "the lesson's description (the MP4 files' comment)" },
    { OPT_KEYWORDS, "keywords", "A,B,...", "the lesson's keywords, separated by commas (at most 16)" },
    { OPT_CHECK, "check-config", NULL, "validate the configuration and exit" },
    { OPT_PRINT_DEMO, "print-demo-config", NULL, "print the demo classroom's configuration" },
    { OPT_PRINT_MAN, "print-man", "SECTION", "write the manual page luobo(8) or luobo.ini(5) as roff" },
    { 'v', "verbose", NULL, "log at debug level" },
    { 'h', "help", NULL, "show this help and the configuration keys" },
    { 'V', "version", NULL, "show the version" },
    { 0 },
};

/* Every option table of the configuration, in the order of the file. */
void lb_print_config_tables(FILE *f, lb_options_printer print)
{
    print(f, "general", lb_general_options);
    print(f, "general (web UI)", lb_webui_general_options);
    print(f, "source.NAME", lb_source_options);
    print(f, "mic.NAME", lb_mic_options);
    print(f, "director", lb_director_options);
    print(f, "director (layouts)", lb_compositor_options);
    print(f, "encoder", lb_encoder_options);
    print(f, "auth", lb_auth_options);
    print(f, "webui", lb_webui_options);
    print(f, "webui (names)", lb_webui_host_options);
    print(f, "health", lb_health_options);
    print(f, "alerts", lb_alerts_options);
    print(f, "schedule", lb_schedule_options);
    lb_streamer_print_options(f, print);
}

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: luobo [options]\n"
        "Records and live-streams lessons from the cameras and microphones of a hall.\n"
        "With no --config, runs the built-in demo classroom (synthetic cameras and\n"
        "microphones) and serves the web UI on http://localhost:8080.\n"
        "\n"
        "Options:\n");
    for (const lb_cli_option *o = lb_cli_options; o->long_name; o++) {
        char left[48];
        snprintf(left, sizeof left, "%c%c%c --%s%s%s", o->short_name < 256 ? '-' : ' ',
                 o->short_name < 256 ? o->short_name : ' ', o->short_name < 256 ? ',' : ' ',
                 o->long_name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-22s %s\n", left, o->help);
    }
    fprintf(f,
        "\n"
        "Signals: SIGINT, SIGTERM stop cleanly (a recording is finished; a second one\n"
        "exits at once); SIGHUP reads the configuration file again: the keys marked\n"
        "[reload applies it at once] and hls/srt/upload outputs apply at once, the rest\n"
        "restarts the pipeline when no lesson is recording (a bad file is logged and ignored).\n"
        "\n"
        "Exit status: 0 ok, 1 runtime failure, 2 bad usage or configuration.\n"
        "\n"
        "Configuration keys (type, default, meaning):\n");
    lb_print_config_tables(f, lb_options_print);
}

/* One metadata option into meta, with the API's checks (lb_meta_from_json):
 * 0, or -1 after saying what is wrong. */
static int meta_option(lb_lesson_meta *meta, const char *option, const char *key, const char *value)
{
    cJSON *obj = cJSON_CreateObject();
    char err[256];
    int ret = -1;
    if (!obj)
        goto end;
    if (!strcmp(key, "keywords")) {
        cJSON *arr = cJSON_AddArrayToObject(obj, key);
        for (const char *p = value; arr && *p;) {
            size_t n = strcspn(p, ",");
            char word[256];
            snprintf(word, sizeof word, "%.*s", (int)(n < sizeof word ? n : sizeof word - 1), p);
            char *w = word;
            while (*w == ' ')
                w++;
            for (size_t l = strlen(w); l && w[l - 1] == ' '; l--)
                w[l - 1] = 0;
            cJSON_AddItemToArray(arr, cJSON_CreateString(n >= sizeof word ? value : w));
            p += n + (p[n] == ',');
        }
    } else {
        cJSON_AddStringToObject(obj, key, value);
    }
    if (lb_meta_from_json(meta, obj, 0, err, sizeof err) < 0)
        fprintf(stderr, "luobo: --%s: %s\n", option, err);
    else
        ret = 0;
end:
    cJSON_Delete(obj);
    return ret;
}

int main(int argc, char **argv)
{
    struct option longopts[sizeof lb_cli_options / sizeof lb_cli_options[0]];
    int nb_longopts = 0;
    for (const lb_cli_option *o = lb_cli_options; o->long_name; o++)
        longopts[nb_longopts++] = (struct option){ o->long_name, o->arg ? required_argument : no_argument,
                                                   NULL, o->short_name };
    longopts[nb_longopts] = (struct option){ 0 };
    const char *config_path = NULL;
    lb_pipeline_params params = { 0 };
    static lb_lesson_meta meta;
    int check_only = 0, verbose = 0;
    int opt;

    /* subcommands: luobo recut LESSON_DIR ... (daemon/recut.c) */
    if (argc >= 2 && !strcmp(argv[1], "recut"))
        return lb_recut_main(argc - 1, argv + 1);
    /* Pictures (3 MB at 1080p) are given back to the system when freed.
     * glibc's default threshold rises to the largest block freed, after
     * which pictures come from the thread arenas and stay resident when
     * freed (a decoder dropped when its camera leaves the air, the burst
     * of start-up, a realtime queue full while the program was late).
     * Fixed, blocks of 256 KiB and more are mmapped each: what makes one
     * per frame takes it from a pool (lb_frame_pool). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    /* x264 asks for transparent huge pages for each block of 1.75 MB and
     * more (its frames, and the output buffers sized for the worst picture,
     * 8-12 MB at 1080p): a block then takes whole 2 MiB pages where it is
     * touched, though most of an output buffer never is.  Without them the
     * six-camera job holds 15-20 MiB less, at the same CPU time
     * (BENCHMARKS.md, "Issue 17, memory"). */
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
        LB_LOGD("luobo", "transparent huge pages stay on: %s", strerror(errno));
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:rd:ot:vhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'r': params.record = 1; break;
        case 'o': params.offline = 1; break;
        case 't': params.title = optarg; break;
        case OPT_TEACHER: case OPT_COURSE: case OPT_SUBJECT: case OPT_GRADE: case OPT_CLASS:
        case OPT_LESSON_TYPE: case OPT_DESCRIPTION: case OPT_KEYWORDS: {
            static const char *const keys[] = { "teacher", "subject", "grade", "class", "lesson_type",
                                                "description", "keywords", "course" };
            const char *option = NULL;
            for (const lb_cli_option *o = lb_cli_options; o->long_name; o++)
                if (o->short_name == opt)
                    option = o->long_name;
            if (meta_option(&meta, option, keys[opt - OPT_TEACHER], optarg) < 0)
                return EXIT_USAGE;
            params.meta = &meta;
            break;
        }
        case 'v': verbose = 1; break;
        case 'd': {
            char *end;
            params.duration_s = strtod(optarg, &end);
            if (*end || !(params.duration_s > 0) || params.duration_s > 7 * 24 * 3600) {
                fprintf(stderr, "luobo: --duration: '%s' is not a number of seconds > 0\n", optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case OPT_CHECK: check_only = 1; break;
        case OPT_PRINT_DEMO: fputs(lb_demo_config, stdout); return EXIT_OK;
        case OPT_PRINT_MAN:
            if (strcmp(optarg, "5") && strcmp(optarg, "8")) {
                fprintf(stderr, "luobo: --print-man: no section '%s' (5: luobo.ini, 8: luobo)\n", optarg);
                return EXIT_USAGE;
            }
            lb_print_man(stdout, atoi(optarg));
            return EXIT_OK;
        case 'h': usage(stdout); return EXIT_OK;
        case 'V': printf("luobo %s\n", LUOBO_VERSION); return EXIT_OK;
        case ':':
            fprintf(stderr, "luobo: %s needs a value (see luobo --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "luobo: unknown option '%s' (see luobo --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "luobo: unexpected argument '%s' (see luobo --help)\n", argv[optind]);
        return EXIT_USAGE;
    }

    lb_log_route_av();
    lb_service_init();
    if (verbose)
        lb_log_set_level(LB_LOG_DEBUG);

    char err[LB_CONFIG_ERR_SIZE];
    lb_config *cfg = NULL;
    int ret = config_path ? lb_config_load_file(&cfg, config_path, err, sizeof err)
                          : lb_config_load_string(&cfg, "<demo classroom>", lb_demo_config, err, sizeof err);
    if (ret < 0) {
        /* a fresh install has no configuration yet: say where to start */
        fprintf(stderr, "luobo: %s%s\n", err,
                ret == AVERROR(ENOENT) ? "; start from the example " LUOBO_EXAMPLE_CONFIG
                                         " (copy it to " LUOBO_DEFAULT_CONFIG " and edit it)"
                                         " or from luobo --print-demo-config" : "");
        return EXIT_USAGE;
    }
    params.cfg = cfg;
    lb_pipeline *pipeline = NULL;
    if ((ret = lb_pipeline_create(&pipeline, &params, err, sizeof err)) < 0) {
        fprintf(stderr, "luobo: %s\n", err);
        lb_config_free(&cfg);
        return EXIT_USAGE;
    }
    if (verbose)
        lb_log_set_level(LB_LOG_DEBUG);
    if (check_only) {
        printf("%s: configuration is valid\n", config_path ? config_path : "<demo classroom>");
        lb_pipeline_free(&pipeline);
        lb_config_free(&cfg);
        return EXIT_OK;
    }

    int status = EXIT_OK;
    lb_reload reload;
    lb_reload_init(&reload, config_path, &params, verbose, pipeline);
    if (lb_shutdown_init() < 0) {
        fprintf(stderr, "luobo: cannot set up signal handling\n");
        status = EXIT_RUNTIME;
        goto end;
    }
    for (;;) {
        if ((ret = lb_pipeline_start(pipeline, err, sizeof err)) < 0) {
            LB_LOGE("luobo", "cannot start: %s", err);
            status = EXIT_RUNTIME;
            goto end;
        }
        if (!config_path && lb_pipeline_general(pipeline)->http_port)
            LB_LOGI("luobo", "demo classroom running: open http://localhost:%d/ (Ctrl-C stops)",
                    lb_pipeline_general(pipeline)->http_port);
        lb_service_ready();
        int restart = lb_pipeline_wait(pipeline);
        if (!restart || lb_shutdown_requested())
            lb_service_stopping();
        else
            lb_service_reloading();
        if (restart && !lb_shutdown_requested())
            lb_reload_keep_webui(&reload, pipeline);    /* it serves on through the restart */
        if (lb_pipeline_stop(pipeline) < 0)
            status = EXIT_RUNTIME;
        if (!restart || lb_shutdown_requested())
            break;
        if ((ret = lb_reload_next(&reload, &pipeline, &cfg, err, sizeof err)) < 0) {
            LB_LOGE("luobo", "cannot restart with the new configuration: %s", err);
            status = EXIT_RUNTIME;
            goto end;
        }
    }
end:
    lb_shutdown_uninit();               /* no SIGHUP hook runs after it */
    lb_pipeline_free(&pipeline);        /* before the files its outputs came from */
    /* a web UI kept through a restart SIGTERM cut short serves no edit
     * past the edit thread's end */
    lb_webui_free(&reload.webui);
    lb_lesson_edits_stop();             /* a chapter remux or a clip asked for ends whole */
    lb_reload_uninit(&reload);
    lb_service_uninit();
    lb_config_free(&cfg);
    lb_log_flush();
    return status;
}
