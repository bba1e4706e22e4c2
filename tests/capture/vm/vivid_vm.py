"""A throw-away VM that gives luobo a real V4L2 driver: Debian's own kernel
(linux-image-amd64, downloaded with apt-get and unpacked, never installed)
under qemu with KVM (TCG when /dev/kvm is missing), the kernel's vivid
test driver loaded inside.

Why the host's root file system is the guest's root (read-only, over 9p)
rather than an initramfs holding luobo and what ldd lists: luobo also opens
things ldd never shows (fonts and fontconfig for the slate, libraries that
libavcodec loads on demand, the sanitizer runtimes and their options), and
the test driver in the guest is python3 with v4l2-ctl.  Sharing the root
gives the guest exactly the host's files, so a build (plain or sanitized)
runs unchanged.  The initramfs only holds a static busybox, the virtio and
9p modules, and init.  The test's scratch folder is shared read-write at
the same absolute path, so paths in configs and logs mean the same inside
and out.

Cached in CACHE (the build folder): kernel/ (the unpacked package with a
modules.dep from depmod) and initramfs.cpio (rewritten only when it
changes).  Also used by the power-cut trials (tests/streamer/powercut/:
prepare() with their own modules and cache, start() with a virtio disk, and
a SIGKILL of qemu)."""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# what init loads before it can mount the host's root over 9p
BOOT_MODULES = ["virtio_pci", "9pnet_virtio", "9p"]
# what the guest loads with modprobe -d from the unpacked package
GUEST_MODULES = ["vivid"]


class VmError(Exception):
    pass


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise VmError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, (p.stderr or p.stdout).strip()[-800:]))
    return p.stdout


def ensure_kernel(cache, guest_modules=GUEST_MODULES):
    """Downloads and unpacks Debian's kernel once, keeping the modules that
    boot and guest_modules need; returns (root, version)."""
    kdir = os.path.join(cache, "kernel")
    ready = os.path.join(kdir, "ready")
    if os.path.exists(ready):
        version = open(ready).read().strip()
        return os.path.join(kdir, "root"), version
    shutil.rmtree(kdir, ignore_errors=True)
    dl = os.path.join(kdir, "dl")
    os.makedirs(dl)
    # the metapackage names the versioned image package (as Depends)
    try:
        run(["apt-get", "download", "-q", "linux-image-amd64"], cwd=dl)
    except VmError:
        if os.geteuid() != 0:
            raise
        # a machine whose package lists were never fetched (or were cleaned)
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "download", "-q", "linux-image-amd64"], cwd=dl)
    meta = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
    depends = run(["dpkg-deb", "-f", os.path.join(dl, meta), "Depends"])
    m = re.search(r"linux-image-([0-9][^\s,(]*-amd64)", depends)
    if not m:
        raise VmError("cannot find the kernel package in %s's Depends: %s" % (meta, depends))
    version = m.group(1)
    run(["apt-get", "download", "-q", "linux-image-" + version], cwd=dl)
    deb = [f for f in os.listdir(dl) if f.startswith("linux-image-" + version)][0]
    root = os.path.join(kdir, "root")
    run(["dpkg-deb", "-x", os.path.join(dl, deb), root])
    # the package ships no modules.dep (its postinst makes one)
    run(["depmod", "-b", root, version])
    shutil.rmtree(dl)
    # of its 400 MB only the kernel and a few modules are used
    keep = set(module_order(root, version, BOOT_MODULES + list(guest_modules)))
    for top, _, files in os.walk(os.path.join(root, "lib", "modules", version, "kernel")):
        for f in files:
            if os.path.join(top, f) not in keep:
                os.unlink(os.path.join(top, f))
    for d in ("usr", os.path.join("boot", "System.map-" + version)):
        path = os.path.join(root, d)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
    with open(ready, "w") as f:
        f.write(version + "\n")
    return root, version


def module_order(root, version, names):
    """Module files to load, dependencies first, from modules.dep."""
    mdir = os.path.join(root, "lib", "modules", version)
    deps = {}
    by_name = {}
    with open(os.path.join(mdir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            base = os.path.basename(path)
            by_name[re.sub(r"\.ko(\.[a-z]+)?$", "", base).replace("-", "_")] = path
    order = []

    def visit(path):
        if path in order:
            return
        for d in deps[path]:
            visit(d)
        order.append(path)

    for n in names:
        if n.replace("-", "_") not in by_name:
            raise VmError("module %s is not in kernel %s" % (n, version))
        visit(by_name[n.replace("-", "_")])
    return [os.path.join(mdir, p) for p in order]


def cpio_newc(entries):
    """An uncompressed newc archive (what the kernel unpacks) of
    (name, mode, data) entries; directories have data None."""
    out = bytearray()
    ino = 1

    def add(name, mode, data):
        nonlocal ino
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        ino += 1
        out.extend(hdr.encode() + name_b)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for name, mode, data in entries:
        add(name, mode, b"" if data is None else data)
    add("TRAILER!!!", 0, b"")
    return bytes(out)


def is_static(path):
    with open(path, "rb") as f:
        elf = f.read(1 << 16)
    return b"ld-linux" not in elf and b".interp" not in elf


def ensure_initramfs(cache, root, version):
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox) or not is_static(busybox):
        raise VmError("%s is missing or not static: install busybox-static" % busybox)
    mods = module_order(root, version, BOOT_MODULES)
    names = [re.sub(r"\.ko$", "", os.path.basename(p)) for p in mods]
    entries = [("modules", 0o40755, None)]
    for p, n in zip(mods, names):
        if not p.endswith(".ko"):
            raise VmError("compressed module %s: not supported" % p)
        entries.append(("modules/%s.ko" % n, 0o100644, open(p, "rb").read()))
    entries.append(("modules/order", 0o100644, ("\n".join(names) + "\n").encode()))
    entries.append(("busybox", 0o100755, open(busybox, "rb").read()))
    entries.append(("init", 0o100755, open(os.path.join(HERE, "init"), "rb").read()))
    data = cpio_newc(entries)
    path = os.path.join(cache, "initramfs.cpio")
    if not os.path.exists(path) or open(path, "rb").read() != data:
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    return path


def prepare(cache, guest_modules=GUEST_MODULES):
    """Kernel and initramfs, cached in cache (one cache per set of
    guest_modules: the others are deleted); returns what boot() needs."""
    os.makedirs(cache, exist_ok=True)
    root, version = ensure_kernel(cache, guest_modules)
    initrd = ensure_initramfs(cache, root, version)
    return {"root": root, "version": version, "initrd": initrd,
            "kernel": os.path.join(root, "boot", "vmlinuz-" + version)}


def accel():
    """kvm when it can work: /dev/kvm is there and the CPU has VT-x or
    AMD-V (a nested guest may have /dev/kvm without them, and qemu then
    hangs before the kernel's first line); tcg otherwise."""
    if os.environ.get("LUOBO_VM_ACCEL") in ("kvm", "tcg"):
        return os.environ["LUOBO_VM_ACCEL"]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    try:
        flags = re.search(r"^flags\s*:(.*)$", open("/proc/cpuinfo").read(), re.M).group(1).split()
    except (OSError, AttributeError):
        return "tcg"
    return "kvm" if "vmx" in flags or "svm" in flags else "tcg"


def start(vm, work, script, env, qemu_args=()):
    """Starts the VM, which runs script (sh) in work as root with env and
    then powers off; returns the qemu process (console.log, guest.log and
    guest.rc appear in work).  qemu_args: more devices (e.g. a disk)."""
    if re.search(r"[\s,\"']", work):
        raise VmError("the work folder's path %r has characters the kernel command line cannot carry" % work)
    lines = ["export %s='%s'" % (k, v.replace("'", "'\\''")) for k, v in sorted(env.items())]
    with open(os.path.join(work, "guest.sh"), "w") as f:
        f.write("\n".join(lines + ["cd '%s'" % work, script]) + "\n")
    for name in ("guest.rc", "guest.log"):
        if os.path.exists(os.path.join(work, name)):
            os.unlink(os.path.join(work, name))
    console = os.path.join(work, "console.log")
    a = accel()
    cmd = ["qemu-system-x86_64", "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
           "-serial", "file:" + console, "-m", "2048", "-smp", "2",
           "-accel", a if a == "kvm" else "tcg,thread=multi", "-cpu", "host" if a == "kvm" else "max",
           "-kernel", vm["kernel"], "-initrd", vm["initrd"],
           "-append", "console=ttyS0 quiet panic=-1 lbwork=" + work,
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
           "-virtfs", "local,path=%s,mount_tag=work,security_model=none,multidevs=remap" % work]
    return subprocess.Popen(cmd + list(qemu_args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def boot(vm, work, script, env, timeout, qemu_args=()):
    """Boots the VM, which runs script (sh) in work as root with env, and
    powers off.  Returns (guest exit status, console text); guest.log in
    work has the script's output."""
    console = os.path.join(work, "console.log")
    p = start(vm, work, script, env, qemu_args)
    try:
        _, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise VmError("qemu exited %d: %s" % (p.returncode, err.strip()[-800:]))
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise VmError("the VM did not power off within %d s; console: %s" % (timeout, tail(console)))
    text = open(console, errors="replace").read() if os.path.exists(console) else ""
    rc_path = os.path.join(work, "guest.rc")
    if not os.path.exists(rc_path):
        raise VmError("the guest script did not finish; console: %s" % text[-3000:])
    return int(open(rc_path).read().strip() or "1"), text


def tail(path, n=3000):
    try:
        return open(path, errors="replace").read()[-n:]
    except OSError:
        return ""


if __name__ == "__main__":
    # vivid_vm.py CACHE WORK 'shell command': a manual run
    vm = prepare(sys.argv[1])
    os.makedirs(sys.argv[2], exist_ok=True)
    rc, console = boot(vm, os.path.abspath(sys.argv[2]), sys.argv[3],
                       {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, 300)
    print(console[-2000:])
    print(open(os.path.join(sys.argv[2], "guest.log")).read())
    print("guest exit status", rc)
