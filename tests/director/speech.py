"""Microphones that hear real speech: espeak-ng sentences in Mandarin and
English, with pauses between them, over room noise, and each voice leaking
into the other mic 20 dB down.

espeak-ng's output is deterministic for a given text, voice and speed, so
the sentences are synthesised at test time into a cache folder (the build
tree's director-scenarios/speech), never committed.  A span of speech is
filled with sentences and pauses chosen by a seed and cut at its end, as a
speaker stops mid-sentence when the answer is over.
"""
import hashlib
import os
import random
import shutil
import subprocess

RATE = 22050            # espeak-ng's output rate; ffmpeg resamples to 48 kHz

SENTENCES = {
    "cmn": [
        "同学们好，今天我们学习分数的加法。",
        "请大家看黑板，这里有两个分数。",
        "分母相同的时候，分子直接相加。",
        "这个问题谁能回答？",
        "很好，请坐。",
        "我们再看下一个例子。",
        "三分之一加三分之一等于三分之二。",
        "老师，我觉得答案是四分之三。",
        "因为两个分母不一样，要先通分。",
        "大家把书翻到第二十五页。",
        "请你说一说你是怎么想的。",
        "下课以前我们做一个小练习。",
    ],
    "en": [
        "Good morning, everyone.",
        "Today we are going to add fractions.",
        "Look at the board, please.",
        "When the denominators are the same, we add the numerators.",
        "Who can answer this question?",
        "I think the answer is three quarters.",
        "Because the bottoms are different, we first find a common denominator.",
        "Very good, please sit down.",
        "Let us look at the next example on the screen.",
        "Open your books at page twenty five.",
    ],
}
VOICES = {"teacher": {"cmn": "cmn", "en": "en"}, "students": {"cmn": "cmn+f3", "en": "en+f3"}}


def espeak(text, voice, speed, cache):
    """The sentence as mono s16 samples at RATE (bytes), cached by what
    makes espeak-ng's output."""
    key = hashlib.sha256(("%s|%s|%d" % (text, voice, speed)).encode()).hexdigest()[:24]
    path = os.path.join(cache, key + ".raw")
    if not os.path.exists(path):
        if not shutil.which("espeak-ng"):
            raise SystemExit("speech.py: espeak-ng is missing (scripts/debian-packages.txt lists it)")
        os.makedirs(cache, exist_ok=True)
        wav = path + ".wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", wav, text],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        data = open(wav, "rb").read()
        os.remove(wav)
        # a RIFF header then one "data" chunk (espeak-ng writes 22050 Hz s16 mono)
        at = data.index(b"data") + 8
        open(path + ".tmp", "wb").write(data[at:])
        os.replace(path + ".tmp", path)
    return open(path, "rb").read()


def track(spans, who, lang, seed, duration, cache):
    """A voice speaking in the given spans: bytes of s16 mono at RATE for
    the whole lesson, silence elsewhere.  lang: "cmn", "en" or "mix" (the
    language changes from span to span).  Returns (bytes, voiced) where
    voiced lists the (from, to) seconds that hold a sentence."""
    rng = random.Random("%s/%s/%s" % (seed, who, lang))
    out = bytearray(int(duration * RATE) * 2)
    voiced = []
    for k, (a, b) in enumerate(spans):
        lg = lang if lang != "mix" else ("cmn", "en")[(k + (who == "students")) % 2]
        speed = rng.choice([150, 160, 170])
        t = a
        while t < b - 0.3:
            pcm = espeak(rng.choice(SENTENCES[lg]), VOICES[who][lg], speed, cache)
            # espeak-ng pads each sentence with ~0.1 s of silence; trimmed
            pcm = trim(pcm)
            i0 = int(t * RATE) * 2
            i1 = min(i0 + len(pcm), int(b * RATE) * 2, len(out))
            out[i0:i1] = pcm[:i1 - i0]
            voiced.append((round(t, 3), round(i1 / 2 / RATE, 3)))
            # the pause between sentences: a breath to a thought
            t = i1 / 2 / RATE + rng.uniform(0.25, 0.7)
    return bytes(out), voiced


def trim(pcm, level=300):
    import array
    s = array.array("h", pcm)
    i, j = 0, len(s)
    while i < j and abs(s[i]) < level:
        i += 1
    while j > i and abs(s[j - 1]) < level:
        j -= 1
    return s[i:j].tobytes()


def render_mics(spans, out, duration, seed, cache, langs=None, noise_dbfs=-50, speech_gain_db=0,
                bursts=()):
    """Writes teacher_mic.wav and students_mic.wav (48 kHz s16) into out.
    spans: {"teacher": [(a, b)], "students": [...]}; langs: the language of
    each voice; bursts: [(mic, t, length_s)] of noise (a chair, a door)
    too short to be speech."""
    langs = langs or {"teacher": "cmn", "students": "mix"}
    nseed = int(hashlib.sha256(str(seed).encode()).hexdigest()[:6], 16)
    raw = {}
    for who in ("teacher", "students"):
        pcm, _ = track(spans.get(who, []), who, langs[who], seed, duration, cache)
        raw[who] = os.path.join(out, "speech_%s.raw" % who)
        open(raw[who], "wb").write(pcm)
    for k, mic in enumerate(("teacher", "students")):
        other = "students" if mic == "teacher" else "teacher"
        # room noise: pink (air conditioning, the corridor), its own seed per mic
        noise_amp = 10 ** ((noise_dbfs + 4) / 20)
        burst = "".join("+between(t,%g,%g)" % (t, t + n) for m, t, n in bursts if m == mic)
        graph = ("[0:a]volume=%gdB[own];[1:a]volume=%gdB[leak];"
                 "anoisesrc=r=%d:c=pink:a=%g:seed=%d:d=%g[room];"
                 % (speech_gain_db, speech_gain_db - 20, RATE, noise_amp, (nseed * 2 + k) % 100000, duration))
        inputs = "[own][leak][room]"
        n = 3
        if burst:
            graph += ("anoisesrc=r=%d:c=brown:a=0.3:seed=%d:d=%g,volume='gt(0%s,0)':eval=frame[bang];"
                      % (RATE, 11 + k, duration, burst))
            inputs += "[bang]"
            n = 4
        graph += "%samix=inputs=%d:normalize=0:duration=first,aresample=48000" % (inputs, n)
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error",
                        "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", raw[mic],
                        "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", raw[other],
                        "-filter_complex", graph, "-t", str(duration), "-c:a", "pcm_s16le",
                        os.path.join(out, mic + "_mic.wav")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for p in raw.values():
        os.remove(p)
