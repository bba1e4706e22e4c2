/* The daemon as a systemd service (daemon/service.c), behind a few calls
 * that are no-ops when luobo runs outside systemd or was built without
 * libsystemd:
 *
 *   - sd_notify(3): READY=1 once the web UI listens and the sources are
 *     created, STATUS= lines ("recording 'Lesson' 00:12:31", "idle, 4
 *     cameras live"), STOPPING=1 at shutdown;
 *   - the watchdog (WatchdogSec=, WATCHDOG_USEC): a thread "lb-watchdog"
 *     sends WATCHDOG=1 at a quarter of the period, but only while the
 *     program thread ticked within half of it, so a stuck pipeline (not
 *     just a dead process) gets luobo restarted.  Before READY, while a
 *     reload restarts the pipeline and once shutdown is requested the
 *     program thread is not expected to tick;
 *   - the journal: when stderr is the journal's stream, lines go through
 *     sd_journal_send(3) with the fields LUOBO_MODULE=, LUOBO_SOURCE= (a
 *     camera's or mic's lines) and LUOBO_LESSON= (while a lesson records),
 *     and fall back to stderr with a "<N>" priority prefix when the journal
 *     refuses them (core/lb_log.c).
 *
 * Test-only hook: with LUOBO_TEST_STALL_FILE=PATH in the environment, the
 * program thread stops at its heartbeat while PATH exists (the rest of the
 * process runs on), so a test can watch the watchdog go quiet. */
#ifndef LB_SERVICE_H
#define LB_SERVICE_H

#include <cjson/cJSON.h>

/* In main(), before any thread starts. */
void lb_service_init(void);
/* The web UI listens and the sources exist: READY=1; starts the watchdog
 * thread when systemd asked for one. */
void lb_service_ready(void);
/* The program thread, once a tick. */
void lb_service_heartbeat(void);
/* From the 1 Hz status (the API's /api/v1/status object): a STATUS= line
 * when it says something new. */
void lb_service_status(const cJSON *status);
/* A reload restarts the pipeline in-process: RELOADING=1; the watchdog
 * does not wait for ticks until the next lb_service_ready(). */
void lb_service_reloading(void);
/* Shutdown has begun (recordings are being finished): STOPPING=1. */
void lb_service_stopping(void);
/* Stops the watchdog thread. */
void lb_service_uninit(void);

#endif
