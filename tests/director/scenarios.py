"""Scripted lessons for the director's evaluation, and their ground truth.

Each scenario is a script of what happens in the hall (who speaks, who
stands, strokes on the board, slides and video on the screen, cameras that
drop out) and the ground truth: which role a viewer should see as the main
picture, second by second.  A truth span may allow several roles ("a|b")
where a good director could do either (the room in a silent exam; the end
of writing, when the board may stay up a few seconds while the teacher
explains).

`camera` = (noise, brightness swing) makes the cameras harsh: sensor noise
of that strength and the exposure breathing by that share every 7 s.
`lights` = [(camera, t, step)]: the room's lights switched at t, the
camera's brightness stepping by that share.  `teacher_away`: spans when
the teacher is off the podium camera (at the board).

The first six were written with the director; the `room`/`board2` pair
(issue #18) was written afterwards with other orders and timings, to
measure the behaviours an operator gets right: back to the teacher when
the writing ends, a walk past the board is not writing, a student standing
at an edge of the room, writing taken quickly but not for a single stroke,
and a new slide just after a cut.

Times are seconds of program time.  Everything here is data; gen.py renders
it, score.py judges a decision log against it.
"""

W, H, FPS = 640, 360, 15

ZONES = "stand@students:0,0.2,1,0.8; podium@teacher:0,0.25,1,0.75"


def strokes(start, n, every=2.0, row0=0, erase=None):
    """n strokes, one every `every` seconds from start, on successive rows."""
    out = []
    for i in range(n):
        r = row0 + i
        out.append(dict(t=start + i * every, until=erase, x=60 + (r % 2) * 280,
                        y=40 + (r % 9) * 32, w=120 + (r % 3) * 40))
    return out


SCENARIOS = {
    # A lecture with slides and a short video; the teacher talks throughout.
    "lecture": dict(
        duration=90,
        cameras=["teacher", "students", "board", "screen"],
        teacher_speaks=[(0.5, 44), (44.8, 90)],
        students_speaks=[],
        stands=[],
        strokes=[],
        board_figures=[],
        slides=[10, 35, 60],
        # a bullet appearing on slide 2: a look at the screen, not a chapter
        bullets=[(11.5, 35)],
        videos=[(68, 80)],
        drops=[],
        truth=[(0, 10, "teacher"), (10, 31.5, "screen"), (31.5, 35, "teacher"),
               (35, 55, "screen"), (55, 60, "teacher"), (60, 81, "screen"),
               (81, 90, "teacher")],
        chapters=3,
    ),
    # Board-heavy maths: three bursts of writing with the teacher at the
    # board, and the teacher walking past the board camera twice without
    # writing.
    "board": dict(
        duration=120,
        camera=(10, 0.03),      # harsh cameras: noise and exposure swing
        cameras=["teacher", "students", "board", "screen"],
        teacher_speaks=[(0.5, 30), (31, 70), (71, 118)],
        students_speaks=[],
        stands=[],
        strokes=(strokes(10, 8, erase=44) + strokes(50, 7, row0=8, erase=84) +
                 strokes(90, 8, row0=15)),
        # (from, to, x0, x1): the teacher's figure in front of the board,
        # swaying while it writes, walking when it crosses
        # (x0 == x1: standing still, here wiping the board at 44 s)
        board_figures=[(8, 26, 230, 250), (35, 39, -80, 700), (40, 46, 420, 420),
                       (48, 64, 250, 235), (75, 79, 700, -80), (88, 106, 235, 250)],
        slides=[],
        videos=[],
        drops=[],
        truth=[(0, 10, "teacher"), (10, 29, "board"), (29, 36, "board|teacher"),
               (36, 50, "teacher"), (50, 67, "board"), (67, 74, "board|teacher"),
               (74, 90, "teacher"), (90, 109, "board"), (109, 116, "board|teacher"),
               (116, 120, "teacher")],
        chapters=0,
    ),
    # A discussion: students stand up and answer, one answers seated.
    "discussion": dict(
        duration=90,
        camera=(10, 0.03),
        cameras=["teacher", "students", "board", "screen"],
        teacher_speaks=[(0.5, 10), (25, 38), (52, 62), (73, 90)],
        students_speaks=[(12, 23), (41, 50), (64, 71)],
        stands=[(11, 24, 2), (40, 50.5, 6)],
        strokes=[],
        board_figures=[],
        slides=[],
        videos=[],
        drops=[],
        truth=[(0, 11, "teacher"), (11, 24.5, "students"), (24.5, 40, "teacher"),
               (40, 51, "students"), (51, 64, "teacher"), (64, 72, "students"),
               (72, 90, "teacher")],
        chapters=0,
    ),
    # A silent exam: the room, the teacher walking about; one announcement.
    "exam": dict(
        duration=120,
        cameras=["wide", "teacher", "students", "board", "screen"],
        teacher_speaks=[(60, 66)],
        students_speaks=[],
        stands=[],
        fidget=True,
        strokes=[],
        board_figures=[],
        slides=[],
        videos=[],
        drops=[],
        truth=[(0, 60, "wide|students"), (60, 67, "teacher"), (67, 120, "wide|students")],
        chapters=0,
    ),
    # A busy lesson full of things that must not cut: coughs in the room,
    # a student bending for a pen, the teacher walking past the board,
    # and a flip through five slides that must make one screen shot (and a
    # chapter at most every chapter_gap_s), not five.
    "busy": dict(
        duration=90,
        cameras=["teacher", "students", "board", "screen"],
        teacher_speaks=[(0.5, 30), (30.8, 62), (62.6, 90)],
        students_speaks=[(10, 10.3), (47, 47.25), (80, 80.3)],
        stands=[(70, 70.6, 3)],
        strokes=[],
        board_figures=[(50, 54, -80, 700), (83, 87, 700, -80)],
        slides=[20, 25, 30, 35, 40],
        videos=[],
        drops=[],
        truth=[(0, 20, "teacher"), (20, 60, "screen"), (60, 90, "teacher")],
        chapters=3,
    ),
    # A lecture during which the teacher camera drops out for 25 s.
    "dropout": dict(
        duration=90,
        cameras=["teacher", "wide", "students", "screen"],
        teacher_speaks=[(0.5, 90)],
        students_speaks=[],
        stands=[],
        strokes=[],
        board_figures=[],
        slides=[10, 60],
        videos=[],
        drops=[("teacher", 20, 45)],
        truth=[(0, 10, "teacher"), (10, 30, "screen"), (30, 45, "wide|screen"),
               (45, 60, "teacher"), (60, 80, "screen"), (80, 90, "teacher")],
        chapters=2,
    ),
    # Written after the director (issue #18): the teacher walks to the
    # board, writes for 11 s and goes back to the podium (off the podium
    # camera meanwhile); later walks past the board without writing, then
    # adds a single stroke in passing.
    "board2": dict(
        duration=50,
        camera=(8, 0.02),
        cameras=["teacher", "board"],   # short and cheap to render: CI runs it
        zones="podium@teacher:0,0.25,1,0.75",
        teacher_speaks=[(0.5, 11.5), (12.2, 33), (33.6, 50)],
        teacher_away=[(12.5, 26.3), (33.8, 38.2), (43.3, 46)],
        students_speaks=[],
        stands=[],
        strokes=strokes(14, 8, every=1.5) + [dict(t=44.3, until=None, x=530, y=300, w=100)],
        board_figures=[(12, 13.5, 700, 330), (13.5, 25.5, 330, 315), (25.5, 26.3, 315, 700),
                       (34, 38, -80, 700), (43.5, 44.8, 440, 445), (44.8, 46, 445, 700)],
        slides=[],
        videos=[],
        drops=[],
        truth=[(0, 12.5, "teacher"), (12.5, 14, "teacher|board"), (14, 25.5, "board"),
               (25.5, 50, "teacher")],
        chapters=0,
    ),
    # Written after the director (issue #18): lights up and down on the
    # students, cameras breathing; a student at the left edge stands and
    # answers (the mic 3 s after standing); a new slide right after the cut
    # back to the teacher; a student at the right edge answers.  No zone
    # for standing: the director must find them in the whole picture.
    "room": dict(
        duration=53,
        zones="podium@teacher:0,0.25,1,0.75",
        camera=(8, 0.03),
        lights=[("students", 6, 0.12), ("students", 33, -0.1)],
        cameras=["teacher", "students", "screen"],
        teacher_speaks=[(0.5, 13.5), (27, 40.5), (50.5, 53)],
        students_speaks=[(17, 26), (44, 49.5)],
        stands=[(14, 26.5, -0.3), (41, 50, 7.4)],
        strokes=[],
        board_figures=[],
        slides=[28.3],
        videos=[],
        drops=[],
        truth=[(0, 14, "teacher"), (14, 27, "students"), (27, 28.3, "teacher"),
               (28.3, 41, "screen"), (41, 50.5, "students"), (50.5, 53, "teacher")],
        chapters=1,
    ),
}
