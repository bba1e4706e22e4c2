/* Types every stage shares: roles, source states, and the conventions for
 * media passed between stages.
 *
 * Conventions:
 *  - frames are AVFrame, packets AVPacket, passed by reference; a stage
 *    that sends a frame or packet gives its reference away on success and
 *    keeps it on failure;
 *  - every pts/dts between stages is in microseconds (AV_TIME_BASE_Q) on
 *    the program timeline, which starts at 0 when a recording starts
 *    (before that, at daemon start);
 *  - video is planar YUV 4:2:0 (AV_PIX_FMT_YUV420P), BT.709 limited range;
 *  - audio between stages is mono float (AV_SAMPLE_FMT_FLT) at 48 kHz. */
#ifndef LB_MEDIA_H
#define LB_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#define LB_AUDIO_RATE 48000

/* Frame metadata key (value "1") of a "no signal" card that capture hands
 * out for a lost camera: the director never puts such a frame on the air. */
#define LB_SLATE_METADATA "lb_slate"
/* A camera's frame while it was decoded for analysis only (off the air, key
 * frames only): a real but possibly stale picture, not for the program. */
#define LB_PARTIAL_METADATA "lb_partial"
#define LB_TIME_BASE_US 1000000

typedef enum lb_role {
    LB_ROLE_INVALID = 0,
    LB_ROLE_TEACHER,
    LB_ROLE_STUDENTS,
    LB_ROLE_BOARD,
    LB_ROLE_SCREEN,
    LB_ROLE_WIDE,
    LB_ROLE_COUNT,
} lb_role;

const char *lb_role_name(lb_role role);

typedef enum lb_source_state {
    LB_SOURCE_INVALID = 0,
    LB_SOURCE_CONNECTING,
    LB_SOURCE_LIVE,
    LB_SOURCE_LOST,
    LB_SOURCE_RECONNECTING,
    LB_SOURCE_ENDED,          /* a file source without loop reached its end */
    LB_SOURCE_FAILED,         /* bad settings: will not retry */
} lb_source_state;

const char *lb_source_state_name(lb_source_state state);

/* What kind of elementary stream a packet belongs to, carried in
 * AVPacket.stream_index between encoder/capture and streamer. */
typedef enum lb_stream_kind {
    LB_STREAM_INVALID = 0,
    LB_STREAM_PROGRAM_VIDEO,
    LB_STREAM_PROGRAM_AUDIO,
    LB_STREAM_RENDITION_VIDEO,
    LB_STREAM_ISO_VIDEO,
    LB_STREAM_ISO_AUDIO,      /* a microphone on its own: resource mode's audio/<mic>.m4a */
} lb_stream_kind;

/* Blocks of one size, kept for reuse while they are wanted and given back
 * to the system once they lay free through a whole window: after a burst
 * (start-up, a cut, an overload) a pool holds what the steady state uses
 * again.  The daemon gives blocks of 256 KiB and more back to the system as
 * soon as they are freed (daemon/main.c), so a stage that made a picture
 * per tick without a pool would pay an mmap and a page fault per 4 KiB of
 * it.  Blocks may be given back on any thread; a closed pool goes with its
 * last block. */
#define LB_BLOCK_POOL_WINDOW_US 5000000
struct AVBufferRef;
typedef struct lb_block_pool lb_block_pool;

/* zeroed: new blocks are cleared (a decoder's pictures, as libavcodec's
 * own pools have them).  NULL when out of memory. */
lb_block_pool *lb_block_pool_create(size_t size, int zeroed, int64_t window_us);
/* A block of the pool's size, or NULL when out of memory. */
struct AVBufferRef *lb_block_pool_get(lb_block_pool *bp);
/* Idle, the pool keeps no free block: those out are freed as they come
 * back (a camera off the air).  Not idle, it pools again. */
void lb_block_pool_set_idle(lb_block_pool *bp, int idle);
size_t lb_block_pool_size(const lb_block_pool *bp);
int lb_block_pool_nb_free(lb_block_pool *bp);
void lb_block_pool_close(lb_block_pool **bp);

/* YUV420P frames of one size from a block pool, for a stage that makes a
 * picture per frame (the program's, a scaled or converted one).  A new
 * size renews the pool (frames out keep the old one alive). */
struct AVFrame;
typedef struct lb_frame_pool {
    lb_block_pool *blocks;
    int width, height;
} lb_frame_pool;

/* Gives frame (allocated, without buffers) a YUV420P picture of that size.
 * Returns 0 or an AVERROR. */
int lb_frame_pool_get(lb_frame_pool *fp, struct AVFrame *frame, int width, int height);
void lb_frame_pool_uninit(lb_frame_pool *fp);

#endif
