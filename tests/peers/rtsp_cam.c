/* rtsp_cam: an IP camera for tests.  Serves an H.264 MP4 file, in real
 * time, on rtsp://127.0.0.1:PORT/cam (tcp and udp transports), one fresh
 * pipeline per client so every connection starts on a key frame.  Killing
 * and restarting the process is the camera dropping out.
 *
 *   rtsp_cam PORT FILE [PATH] [audio]
 *
 * With "audio", the file's AAC track is served too (as a camera whose audio
 * input carries the hall's mixer).
 * Prints "ready" on stdout once it listens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

int main(int argc, char **argv)
{
    gst_init(&argc, &argv);
    if (argc < 3) {
        fprintf(stderr, "usage: rtsp_cam PORT FILE [PATH] [audio]\n");
        return 2;
    }
    const char *path = argc > 3 ? argv[3] : "/cam";
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    GstRTSPServer *server = gst_rtsp_server_new();
    gst_rtsp_server_set_address(server, "127.0.0.1");
    gst_rtsp_server_set_service(server, argv[1]);
    GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server);
    GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
    /* no parameter sets repeated in-band: the SDP carries them, so every
     * RTP access unit has the file's own size (4-byte start codes for
     * 4-byte lengths) and the test can compare packet sizes */
    int audio = argc > 4 && !strcmp(argv[4], "audio");
    gchar *launch = g_strdup_printf("( filesrc location=\"%s\" ! qtdemux name=d "
                                    "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=0 "
                                    "%s )", argv[2],
                                    audio ? "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97" : "");
    gst_rtsp_media_factory_set_launch(factory, launch);
    g_free(launch);
    gst_rtsp_media_factory_set_shared(factory, FALSE);
    gst_rtsp_mount_points_add_factory(mounts, path, factory);
    g_object_unref(mounts);
    if (!gst_rtsp_server_attach(server, NULL)) {
        fprintf(stderr, "rtsp_cam: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    g_main_loop_run(loop);
    return 0;
}
