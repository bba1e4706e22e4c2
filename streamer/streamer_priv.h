/* Private to streamer/: the output kinds and helpers they share. */
#ifndef LB_STREAMER_PRIV_H
#define LB_STREAMER_PRIV_H

#include <stdint.h>

#include <libavformat/avformat.h>

#include "streamer.h"
#include "lb_file.h"

extern const lb_output_ops lb_output_archive;
extern const lb_output_ops lb_output_hls;
extern const lb_output_ops lb_output_srt;
extern const lb_output_ops lb_output_upload;

/* HLS: the default local folder (DATA_DIR/.live) when the section names
 * none; the folder in use. */
void lb_hls_set_default_dir(void *priv, const char *dir);
const char *lb_hls_dir(void *priv);
/* Reads the media playlist an earlier run left at path: the sequence
 * number of the segment after its last, and its discontinuity sequence
 * counting its own EXT-X-DISCONTINUITY tags, both below LB_HLS_MAX_SEQ.
 * 0; AVERROR_INVALIDDATA for a master playlist, another's or one whose
 * numbers reach LB_HLS_MAX_SEQ; a negative errno AVERROR when it cannot be
 * read. */
#define LB_HLS_MAX_SEQ (INT64_C(1) << 53)
int lb_hls_read_playlist(const char *path, int64_t *next_seq, int64_t *discontinuity_seq);

/* Upload: the default queue file (DATA_DIR/.upload-queue). */
void lb_upload_set_default_queue(void *priv, const char *path);

/* Present in a lesson folder while its MP4 files are being rewritten to
 * fast start (after the lesson): uploads and retention wait for it. */
#define LB_FINALISING_MARKER ".finalising"
/* Who removes a marker says so: a count of the removals in this process
 * (an edit's remux, the fast start, the repair), which the uploader waits
 * on instead of trying the lesson again and again. */
void lb_lesson_rewritten(void);
unsigned lb_lesson_rewrites(void);

/* The work files an edit leaves when a crash cuts it short, removed by the
 * start-up scan (lb_lesson_repair_each_except) that reads every lesson
 * anyway: a clip's hidden folder DATA_DIR/.<clip-id>.tmp (chapters.c), the
 * library's edited log for a re-cut (webui/recut.c) and luobo recut's
 * half-written version, .program.recut-N.mp4.part (daemon/recut.c). */
#define LB_CLIP_TEMP_SUFFIX ".tmp"
#define LB_RECUT_EDIT_LOG ".recut-edit.jsonl"
#define LB_RECUT_PART_FMT ".program.recut-%d.mp4.part"
/* dir's files and then dir (a clip's work folder holds no folders). */
void lb_remove_flat_dir(const char *dir);
/* lesson.json's chapters in dir into LB_CHAPTERS_VTT, ending at its
 * duration_s: for a lesson whose files are not rewritten (an interrupted
 * one, faststart = false), which get no MP4 chapters.  0 or AVERROR. */
int lb_lesson_write_chapters_vtt(const char *dir);

/* Waits (at most timeout_us) until no lesson object of this process has
 * dir open: its last lesson.json is written.  0, or AVERROR(ETIMEDOUT). */
int lb_lesson_wait_closed(const char *dir, int64_t timeout_us);

/* A resumed lesson's earlier parts: parts/<n>/ (parts.c). */
#define LB_PARTS_DIR "parts"
/* Lesson time of the last outage's end: where the current part starts. */
double lb_lesson_last_outage_end(const struct cJSON *root);

#define KIND_BIT(k) (1u << (unsigned)(k))

/* fsync(2) of a file by its path; 0 or a negative AVERROR. */
int lb_fsync_path(const char *path);

/* Remuxes a (fragmented) MP4 into a regular MP4 with the moov in front:
 * written to "<path>.faststart.tmp", fsynced and renamed over path.  On any
 * failure path is left untouched.  A torn last fragment (a crash) ends the
 * copy without failing it. */
int lb_mp4_faststart(const char *path);

/* The same with the global tags set to tags (NULL: the input's MP4 tags of
 * lb_mp4_tags are kept). */
int lb_mp4_faststart_tags(const char *path, const AVDictionary *tags);

/* The general remux by stream copy behind both (chapters.c's design
 * note): video and audio streams only (a chapter track read back is
 * dropped), tags as above, the chapters (NULL, 0: none) set before the
 * trailer, ending at the end of the last packet; *end_us (when not NULL)
 * gets that end.  Temp file, fsync, rename, as above. */
int lb_mp4_remux(const char *path, const AVDictionary *tags, const lb_chapter *chapters,
                 int nb_chapters, int64_t *end_us);
/* Adds chapters to oc (before its trailer), each ending where the next
 * starts and the last at end_us; those at or past end_us are left out. */
int lb_mp4_add_chapters(AVFormatContext *oc, const lb_chapter *c, int nb, int64_t end_us);

/* A power cut can tear a fragmented MP4's last fragment: the file system
 * kept its new size but not all of its data (ext4 extends it page by page
 * as the data is written), so it ends in a box cut short or a moof without
 * its mdat.  Cuts path back to the end of its last whole fragment and
 * makes that durable.  Returns the bytes cut (0: it ends in whole boxes; a
 * file without a whole moov is left alone) or a negative AVERROR. */
int64_t lb_mp4_cut_torn(const char *path);
/* A crash (or a service manager's kill at its stop timeout) during the
 * fast-start rewrite: the fragmented files are whole; drops the
 * half-written copies and the marker. */
void lb_lesson_clear_finalising(const char *dir);
/* lb_mp4_cut_torn() on a lesson folder's program.mp4, iso/ and audio/ files (logged). */
void lb_lesson_cut_torn_files(const char *dir);

/* Real duration of a media file from its packets (the last video packet's
 * end minus the first's start; audio when there is no video), seconds;
 * negative AVERROR when it cannot be opened. */
int lb_media_probe_duration(const char *path, double *duration_s);

/* The string value of a top-level key of a (small) JSON file: 0, or a
 * negative AVERROR (buf then ""). */
int lb_json_file_string(const char *path, const char *key, char *buf, size_t size);

/* episode.xml (episode.c): the Dublin Core catalog of a lesson, made from
 * m and its times (ISO 8601 strings as in lesson.json; one that is not a
 * W3C-DTF time is left out, so NULL is fine).  lb_episode_xml gives the
 * document (malloc'ed, the caller frees); lb_episode_write writes
 * <dir>/episode.xml atomically, on async's thread when given.  0 or a
 * negative error. */
int lb_episode_xml(const lb_lesson_meta *m, const char *started_at, const char *ended_at,
                   char **out, size_t *out_len);
int lb_episode_write(const char *dir, const lb_lesson_meta *m, const char *started_at,
                     const char *ended_at, lb_syncer *async);
/* 1 when s is a time as lesson.json holds them (W3C-DTF with seconds). */
int lb_is_w3cdtf(const char *s);


/* The MP4 tags of a lesson's files from its metadata: title, artist (the
 * teacher), date (the start), comment (the description), genre (the
 * subject).  Adds to *dict. */
void lb_mp4_tags(AVDictionary **dict, const lb_lesson_meta *m, const char *started_at);

/* Free space of the file system holding path, bytes (-1 when unknown). */
/* mkdir -p: creates path and its missing parents (0755).  0 or AVERROR. */
int lb_mkdir_p(const char *path);
int64_t lb_free_bytes(const char *path);

#endif
