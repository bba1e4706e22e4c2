/* iCalendar feeds through libical: not implemented yet (it lands next);
 * these keep the daemon linking meanwhile. */
#include "lb_schedule.h"

#include <errno.h>
#include <stdio.h>

#include <libavutil/error.h>

int lb_ical_parse(lb_ical **cal, const char *text, size_t size, char *err, size_t err_size)
{
    *cal = NULL;
    snprintf(err, err_size, "iCalendar: not supported yet");
    return AVERROR(ENOSYS);
}

void lb_ical_free(lb_ical **cal)
{
    *cal = NULL;
}

int lb_ical_expand(const lb_ical *cal, const char *tz, int64_t from_s, int64_t to_s,
                   lb_schedule_occurrence **occ, int *nb, char *err, size_t err_size)
{
    *occ = NULL;
    *nb = 0;
    snprintf(err, err_size, "iCalendar: not supported yet");
    return AVERROR(ENOSYS);
}
