/* Status to the web UI: the lb-status thread publishes the meters (10 Hz)
 * and the status (1 Hz, the JSON of GET /api/v1/status, built by
 * daemon/control.c); the program thread publishes a decision the moment it
 * goes on the air, for the console's tally.  lb_webui_publish() hands the
 * text to the lws thread, so nothing here blocks on the network. */
#include "pipeline_priv.h"

#include <stdio.h>
#include <stdlib.h>

#include "lb_clock.h"
#include "service.h"

static void *status_thread(void *arg)
{
    lb_pipeline *p = arg;
    for (int tick = 0; !atomic_load(&p->stop); tick++) {
        lb_clock_sleep_until(lb_clock_now() + 100000);
        pthread_mutex_lock(&p->lock);
        char meters[512];
        size_t n = (size_t)snprintf(meters, sizeof meters,
                                    "{\"type\":\"meters\",\"program\":%.1f,\"program_peak\":%.1f,"
                                    "\"agc_gain_db\":%.1f,\"mics\":{",
                                    p->mix_levels.out_dbfs, p->mix_levels.out_peak_dbfs,
                                    p->mix_levels.gain_db);
        for (int m = 0; m < p->nb_mics && n < sizeof meters; m++)
            n += (size_t)snprintf(meters + n, sizeof meters - n, "%s\"%s\":%.1f", m ? "," : "",
                                  lb_mic_name(p->mics[m]), p->mic_dbfs[m]);
        pthread_mutex_unlock(&p->lock);
        if (n < sizeof meters)
            snprintf(meters + n, sizeof meters - n, "}}");
        lb_webui_publish(p->webui, meters);
        if (tick % 10 == 0 || atomic_exchange(&p->status_dirty, 0)) {
            cJSON *st = lb_pipeline_control_ops.status(p);
            lb_service_status(st);      /* systemd's STATUS= line */
            if (st) {
                cJSON *ev = cJSON_CreateObject();
                cJSON_AddStringToObject(ev, "type", "status");
                cJSON_AddItemToObject(ev, "status", st);
                char *text = cJSON_PrintUnformatted(ev);
                if (text)
                    lb_webui_publish(p->webui, text);
                free(text);
                cJSON_Delete(ev);
            }
        }
    }
    return NULL;
}

int lb_status_start(lb_pipeline *p)
{
    if (!p->general.http_port)
        return 0;
    return lb_thread_start(&p->status_thread, "lb-status", status_thread, p);
}

void lb_status_stop(lb_pipeline *p)
{
    lb_thread_join(&p->status_thread);      /* it ends when it sees p->stop */
}

void lb_status_decision(lb_pipeline *p, const lb_shot *air, int64_t t_us)
{
    if (!p->general.http_port)
        return;
    pthread_mutex_lock(&p->lock);
    int64_t rel = p->lc.state == LB_LESSON_RECORDING ? t_us - p->rec_start_us : t_us;
    pthread_mutex_unlock(&p->lock);
    /* the decision's own fields, as director.jsonl has them */
    char line[LB_LOG_LINE_SIZE], event[LB_LOG_LINE_SIZE + 200];
    if (lb_shot_to_json(air, rel, &p->setup, line, sizeof line) > 0) {
        /* program_s: a console drops a status older than the decision */
        snprintf(event, sizeof event, "{\"type\":\"decision\",\"program_s\":%.6f, %s", t_us / 1e6, line + 1);
        lb_webui_publish(p->webui, event);
    }
}
