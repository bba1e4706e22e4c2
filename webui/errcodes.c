/* Server errors as codes with parameters, beside the English text.
 *
 * The API's errors are English sentences made where the refusal happens
 * (here, in auth.c, in the daemon's control ops).  A page in another
 * language needs a code and the sentence's variable parts, so each known
 * sentence has a template here: a message that matches one gets "code" and
 * "params" added to {"error": ...}; one that matches none keeps only its
 * English text (the page shows that).  One table, so a changed sentence
 * is one line to change here, and tests/webui checks a few of them. */
#include "lb_text.h"
#include "webui_priv.h"

static const lb_text_code codes[] = {
    { "user_exists", "user '%s' exists", { "user" } },
    { "user_unknown", "no user '%s'", { "user" } },
    { "user_invalid", "invalid user name (letters, digits, . _ - @; up to 63)", { 0 } },
    { "user_from_config", "user '%s' comes from the config file", { "user" } },
    { "users_too_many", "too many users", { 0 } },
    { "role_invalid", "role must be admin, operator, teacher or viewer", { 0 } },
    { "password_too_short", "password too short (at least 8 characters)", { 0 } },
    { "password_too_long", "password too long", { 0 } },
    { "password_from_config", "this password is set in the config file", { 0 } },
    { "password_wrong", "the current password is wrong", { 0 } },
    { "password_old_required", "'old' (the current password) is required", { 0 } },
    { "password_own_only", "only a logged-in user changes their password", { 0 } },
    { "admin_exists", "setup is done: an administrator exists", { 0 } },
    { "admin_exists", "an administrator exists already", { 0 } },
    { "setup_code_wrong", "wrong setup code (the daemon's log shows it)", { 0 } },
    { "login_failed", "wrong user name or password", { 0 } },
    { "login_required", "login required", { 0 } },
    { "restarting", "the pipeline is restarting (a reload): try again in a moment", { 0 } },
    { "lang_invalid", "'lang' must be \"zh\" or \"en\" (or null: none)", { 0 } },
    { "rate_limited", "too many attempts; wait and try again", { 0 } },
    { "rate_limited_logins", "too many failed logins; wait %d s and try again", { "seconds" } },
    { "rate_limited_passwords", "too many wrong passwords; wait %d s and try again", { "seconds" } },
    { "user_password_required", "'user' and 'password' are required", { 0 } },
    { "user_nothing_to_change", "nothing to change (password, role)", { 0 } },
    { "last_admin_delete", "cannot delete the last administrator", { 0 } },
    { "last_admin_demote", "cannot demote the last administrator", { 0 } },
    { "token_unknown", "no token '%s'", { "token" } },
    { "token_expired", "API token '%s' expired at %s", { "token", "time" } },
    { "tokens_too_many", "too many API tokens", { 0 } },
    { "session_unknown", "no session '%s'", { "session" } },
    { "method_not_allowed", "method not allowed", { 0 } },
    { "not_found", "not found", { 0 } },
    { "field_not_string", "'%s' must be a string", { "field" } },
    { "field_too_long", "'%s' is longer than %d bytes", { "field", "max" } },
    { "field_control", "'%s' must not contain control characters (%s)", { "field", "char" } },
    { "recording_unknown", "no recording '%s'", { "id" } },
    { "recording_busy", "'%s' is being recorded", { "id" } },
    { "recut_running", "a re-cut of '%s' is running; one at a time", { "id" } },
    { "recording_unavailable", "recording is not available", { 0 } },
    { "recording_nothing_to_change",
      "nothing to change (title, teacher, course, subject, grade, %s", { "rest" } },
    { "lesson_refused", "not allowed while %s", { "state" } },
    { "director_unavailable", "the director is not available", { 0 } },
    { "mode_invalid", "'mode' must be \"auto\" or \"manual\"", { 0 } },
    { "layout_invalid", "'layout' must be \"single\", \"pip\" or \"sbs\"", { 0 } },
    { "picture_none", "no picture from '%s'", { "source" } },
    { "schedule_unavailable", "the schedule is not available", { 0 } },
    { "extend_timetable_only", "only a timetable lesson can be extended", { 0 } },
    { "upload_none", "no upload output is configured ([output.NAME] type = upload)", { 0 } },
    { "query_unknown", "unknown query parameter '%s' (%s)", { "param", "known" } },
    { "query_twice", "'%s' is given twice", { "param" } },
    { "query_too_long", "a query parameter is longer than %d bytes", { "max" } },
    { "query_number", "'%s' must be a whole number from 0 to %d", { "param", "max" } },
    { "query_date", "'%s' must be a date, YYYY-MM-DD", { "param" } },
    { "query_from_after_to", "'from' (%s) is after 'to' (%s)", { "from", "to" } },
    { "mic_unknown", "no mic named '%s'", { "mic" } },
    { "mic_member_unknown", "unknown member '%s' (expected \"mute\" and \"gain_db\")", { "member" } },
    { "mic_nothing_to_change", "give 'mute' (true or false) or 'gain_db' (a number of dB)", { 0 } },
    { "mic_mute_invalid", "'mute' must be true or false", { 0 } },
    { "mic_gain_invalid", "'gain_db' must be a number from %d to %d (dB)", { "min", "max" } },
    { "timetable_none", "no timetable yet (PUT one to /api/v1/timetable)", { 0 } },
};

void webui_error_add_code(cJSON *o, const char *msg)
{
    cJSON *params = cJSON_CreateObject();
    const lb_text_code *c = params ? lb_text_code_find(msg, codes, sizeof codes / sizeof codes[0], params)
                                   : NULL;
    if (!c) {
        cJSON_Delete(params);
        return;
    }
    cJSON_AddStringToObject(o, "code", c->code);
    cJSON_AddItemToObject(o, "params", params);
}
