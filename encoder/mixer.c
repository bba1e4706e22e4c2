/* Design note: the program audio mixer.
 *
 * Per block (one program frame of samples):
 *   0. each input goes through the operator's fader (mute, gain at run
 *      time), set from any thread through atomics and ramped linearly over
 *      the block from the gain last applied, so a mute does not click;
 *   1. each input's RMS is measured; below gate_dbfs the input is muted
 *      (with a 300 ms hold so word endings are not chopped);
 *   2. the gated inputs are summed;
 *   3. automatic gain: the mix's RMS, averaged over ~0.4 s, is compared with
 *      the target; the gain moves toward it at most 6 dB per second (slow:
 *      speech keeps its dynamics) and only while there is signal above
 *      -50 dBFS, so silence is never pumped up;
 *   4. a peak limiter with instant attack and 200 ms release keeps every
 *      sample under limiter_dbfs, so a 0 dBFS shout does not clip.
 * All in double precision with fixed coefficients: deterministic. */
#include "encoder.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>

#include "lb_media.h"

#define GATE_HOLD_S 0.3
#define AGC_SLEW_DB_PER_S 6.0
#define AGC_WINDOW_S 0.4
#define AGC_SIGNAL_FLOOR_DBFS (-50.0)
#define LIMITER_RELEASE_S 0.2

struct lb_mixer {
    lb_encoder_settings s;
    int nb_inputs;
    double gate_open_s[8];        /* hold time left per input */
    double mean_square;           /* AGC's running estimate of the mix */
    double gain_db;
    double limiter_gain;          /* <= 1 */
    double ceiling;
    /* the operator's faders: written by any thread, read by the mixing one */
    atomic_int fader_mute[8];
    atomic_int fader_mdb[8];      /* gain in thousandths of a dB */
    double fader_applied[8];      /* linear gain at the end of the last block */
    float *faded;                 /* one input after its fader */
    int faded_size;
};

static double to_db(double mean_square)
{
    return mean_square > 1e-12 ? 10 * log10(mean_square) : -120;
}

int lb_mixer_create(lb_mixer **pm, const lb_encoder_settings *s, int nb_inputs)
{
    if (nb_inputs > 8)
        return AVERROR(EINVAL);
    lb_mixer *m = calloc(1, sizeof *m);
    if (!m)
        return AVERROR(ENOMEM);
    m->s = *s;
    m->nb_inputs = nb_inputs;
    m->limiter_gain = 1;
    m->ceiling = pow(10, s->limiter_dbfs / 20);
    m->mean_square = pow(10, s->agc_target_dbfs / 10);
    for (int i = 0; i < 8; i++)
        m->fader_applied[i] = 1;
    *pm = m;
    return 0;
}

void lb_mixer_free(lb_mixer **pm)
{
    if (pm && *pm) {
        free((*pm)->faded);
        free(*pm);
        *pm = NULL;
    }
}

int lb_mixer_set_fader(lb_mixer *m, int i, int mute, double gain_db)
{
    if (i < 0 || i >= m->nb_inputs || !(gain_db >= LB_MIXER_FADER_MIN_DB && gain_db <= LB_MIXER_FADER_MAX_DB))
        return AVERROR(EINVAL);
    atomic_store(&m->fader_mdb[i], (int)lrint(gain_db * 1000));
    atomic_store(&m->fader_mute[i], !!mute);
    return 0;
}

void lb_mixer_get_fader(lb_mixer *m, int i, int *mute, double *gain_db)
{
    int ok = i >= 0 && i < m->nb_inputs;
    *mute = ok && atomic_load(&m->fader_mute[i]);
    *gain_db = ok ? atomic_load(&m->fader_mdb[i]) / 1000.0 : 0;
}

/* Input i through its fader into m->faded (or the input itself when the
 * fader is at 0 dB and stays there). */
static const float *fade(lb_mixer *m, int i, const float *in, int n)
{
    double target = atomic_load(&m->fader_mute[i]) ? 0 : pow(10, atomic_load(&m->fader_mdb[i]) / 20000.0);
    double from = m->fader_applied[i];
    m->fader_applied[i] = target;
    if (from == 1 && target == 1)
        return in;
    if (n > m->faded_size) {
        float *grown = realloc(m->faded, sizeof(float) * (size_t)n);
        if (!grown)
            return in;                    /* out of memory: unfaded rather than nothing */
        m->faded = grown;
        m->faded_size = n;
    }
    for (int k = 0; k < n; k++)
        m->faded[k] = (float)(in[k] * (from + (target - from) * (k + 1) / n));
    return m->faded;
}

void lb_mixer_process(lb_mixer *m, const float *const *inputs, int n, float *out,
                      lb_mixer_levels *levels)
{
    double block_s = (double)n / LB_AUDIO_RATE;
    memset(out, 0, sizeof(float) * (size_t)n);
    for (int i = 0; i < m->nb_inputs; i++) {
        double raw = 0, e = 0;
        for (int k = 0; k < n; k++)
            raw += (double)inputs[i][k] * inputs[i][k];
        const float *in = fade(m, i, inputs[i], n);
        if (in == inputs[i])
            e = raw;
        else
            for (int k = 0; k < n; k++)
                e += (double)in[k] * in[k];
        double db = to_db(n ? e / n : 0);
        if (levels) {
            levels->in_dbfs[i] = db;
            levels->raw_dbfs[i] = to_db(n ? raw / n : 0);
        }
        if (m->s.gate_dbfs > -120) {
            if (db >= m->s.gate_dbfs)
                m->gate_open_s[i] = GATE_HOLD_S;
            else
                m->gate_open_s[i] -= block_s;
            if (m->gate_open_s[i] <= 0)
                continue;
        }
        for (int k = 0; k < n; k++)
            out[k] += in[k];
    }

    double e = 0;
    for (int k = 0; k < n; k++)
        e += (double)out[k] * out[k];
    double ms = n ? e / n : 0;
    if (m->s.agc) {
        double alpha = fmin(1, block_s / AGC_WINDOW_S);
        m->mean_square += alpha * (ms - m->mean_square);
        double level = to_db(m->mean_square);
        if (level > AGC_SIGNAL_FLOOR_DBFS) {
            double want = fmin(m->s.agc_max_gain_db, fmax(-20, m->s.agc_target_dbfs - level));
            double step = AGC_SLEW_DB_PER_S * block_s;
            m->gain_db += fmax(-step, fmin(step, want - m->gain_db));
        }
    }
    double gain = pow(10, m->gain_db / 20);
    double release = exp(-1.0 / (LIMITER_RELEASE_S * LB_AUDIO_RATE));
    double out_e = 0, peak = 0;
    for (int k = 0; k < n; k++) {
        double x = out[k] * gain;
        double a = fabs(x);
        /* instant attack: the gain that puts this sample on the ceiling */
        if (a * m->limiter_gain > m->ceiling)
            m->limiter_gain = m->ceiling / a;
        x *= m->limiter_gain;
        m->limiter_gain = 1 - (1 - m->limiter_gain) * release;
        out[k] = (float)x;
        out_e += x * x;
        if (fabs(x) > peak)
            peak = fabs(x);
    }
    if (levels) {
        levels->out_dbfs = to_db(n ? out_e / n : 0);
        levels->out_peak_dbfs = peak > 0 ? 20 * log10(peak) : -120;
        levels->gain_db = m->gain_db;
    }
}
