#include "lb_media.h"

const char *lb_role_name(lb_role role)
{
    static const char *const names[LB_ROLE_COUNT] = {
        "none", "teacher", "students", "board", "screen", "wide",
    };
    return role > LB_ROLE_INVALID && role < LB_ROLE_COUNT ? names[role] : "none";
}

const char *lb_source_state_name(lb_source_state state)
{
    static const char *const names[] = {
        "invalid", "connecting", "live", "lost", "reconnecting", "ended", "failed",
    };
    return state > LB_SOURCE_INVALID && state <= LB_SOURCE_FAILED ? names[state] : "invalid";
}
