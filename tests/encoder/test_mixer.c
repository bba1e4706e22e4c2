/* The program audio mixer: a quiet voice is brought up to the target, a
 * full-scale shout does not clip, a gated or silent input stays silent. */
#include <math.h>
#include <stdlib.h>

#include <libavutil/error.h>

#include "../core/check.h"
#include "encoder.h"
#include "lb_config.h"

#define RATE 48000
#define BLOCK 1600                /* one frame at 30 fps */

static void tone(float *x, int n, int64_t start, double amplitude, double hz)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)(amplitude * sin(2 * M_PI * hz * (double)(start + i) / RATE));
}

/* Runs seconds of input through a fresh mixer; returns the output's RMS over
 * the last second and its peak over the whole run. */
static void run(lb_encoder_settings *s, double amplitude, double seconds, double *rms, double *peak)
{
    lb_mixer *m = NULL;
    CHECK(lb_mixer_create(&m, s, 1) == 0);
    float in[BLOCK], out[BLOCK];
    const float *inputs[1] = { in };
    int blocks = (int)(seconds * RATE / BLOCK);
    double e = 0;
    int counted = 0;
    *peak = 0;
    for (int b = 0; b < blocks; b++) {
        tone(in, BLOCK, (int64_t)b * BLOCK, amplitude, 440);
        lb_mixer_levels lv;
        lb_mixer_process(m, inputs, BLOCK, out, &lv);
        for (int i = 0; i < BLOCK; i++) {
            if (fabs(out[i]) > *peak)
                *peak = fabs(out[i]);
            if (b >= blocks - RATE / BLOCK) {
                e += (double)out[i] * out[i];
                counted++;
            }
        }
    }
    *rms = 10 * log10(e / counted + 1e-20);
    lb_mixer_free(&m);
    CHECK(m == NULL);
}

int main(void)
{
    lb_encoder_settings s;
    char err[256];
    CHECK(lb_config_apply(NULL, lb_encoder_options, &s, err, sizeof err) == 0);
    double rms, peak;

    /* a -30 dBFS (RMS) voice ends near the -20 dBFS target */
    double amp = sqrt(2) * pow(10, -30.0 / 20);
    run(&s, amp, 8, &rms, &peak);
    printf("-30 dBFS tone: out %.1f dBFS RMS (target %.0f)\n", rms, s.agc_target_dbfs);
    CHECK(fabs(rms - s.agc_target_dbfs) < 1.5);

    /* a full-scale burst is held under the ceiling from its first sample */
    run(&s, 1.0, 2, &rms, &peak);
    printf("0 dBFS burst: peak %.2f dBFS (ceiling %.0f)\n", 20 * log10(peak), s.limiter_dbfs);
    CHECK(20 * log10(peak) <= s.limiter_dbfs + 0.01);

    /* silence is never pumped up */
    run(&s, 0, 3, &rms, &peak);
    CHECK(peak == 0);

    /* without AGC the mixer is transparent below the ceiling */
    s.agc = 0;
    run(&s, amp, 2, &rms, &peak);
    CHECK(fabs(rms - (-30.0)) < 0.2);

    /* the gate mutes a mic below its threshold */
    s.gate_dbfs = -40;
    run(&s, sqrt(2) * pow(10, -50.0 / 20), 2, &rms, &peak);
    CHECK(peak == 0);
    run(&s, amp, 2, &rms, &peak);       /* -30 is above the gate: passes */
    CHECK(fabs(rms - (-30.0)) < 0.2);

    /* the operator's fader (#19): -6 dB, then muted, then back, set from
     * another thread's point of view between blocks; the levels say it,
     * raw_dbfs keeps what the mic hears, out-of-range values are refused */
    s.gate_dbfs = -120;
    lb_mixer *m = NULL;
    CHECK(lb_mixer_create(&m, &s, 2) == 0);
    CHECK(lb_mixer_set_fader(m, 0, 0, 21) == AVERROR(EINVAL));
    CHECK(lb_mixer_set_fader(m, 0, 0, -61) == AVERROR(EINVAL));
    CHECK(lb_mixer_set_fader(m, 2, 0, 0) == AVERROR(EINVAL));
    CHECK(lb_mixer_set_fader(m, 0, 0, -6) == 0);
    float in[BLOCK], zero[BLOCK] = { 0 }, out[BLOCK];
    const float *inputs[2] = { in, zero };
    lb_mixer_levels lv;
    tone(in, BLOCK, 0, amp, 440);
    lb_mixer_process(m, inputs, BLOCK, out, &lv);     /* the ramp from 0 dB */
    lb_mixer_process(m, inputs, BLOCK, out, &lv);
    printf("fader -6 dB: in %.1f dBFS, raw %.1f dBFS\n", lv.in_dbfs[0], lv.raw_dbfs[0]);
    CHECK(fabs(lv.in_dbfs[0] - (lv.raw_dbfs[0] - 6)) < 0.1 && fabs(lv.out_dbfs - lv.in_dbfs[0]) < 0.1);
    int mute;
    double db;
    lb_mixer_get_fader(m, 0, &mute, &db);
    CHECK(!mute && db == -6);
    CHECK(lb_mixer_set_fader(m, 0, 1, -6) == 0);
    lb_mixer_process(m, inputs, BLOCK, out, &lv);     /* ramps down over this block */
    CHECK(fabsf(out[BLOCK - 1]) < 1e-6f && fabsf(out[BLOCK / 4]) > 0);
    lb_mixer_process(m, inputs, BLOCK, out, &lv);
    double e = 0;
    for (int i = 0; i < BLOCK; i++)
        e += (double)out[i] * out[i];
    CHECK(e == 0 && lv.in_dbfs[0] == -120 && lv.raw_dbfs[0] > -31);
    CHECK(lb_mixer_set_fader(m, 0, 0, 0) == 0);
    lb_mixer_process(m, inputs, BLOCK, out, &lv);
    lb_mixer_process(m, inputs, BLOCK, out, &lv);
    CHECK(fabs(lv.in_dbfs[0] - lv.raw_dbfs[0]) < 0.01);
    lb_mixer_free(&m);
    return CHECK_DONE();
}
