# What one 4 KiB write + fdatasync costs on the disk under DIR (default: .) when it grows the
# file, lands in a fallocate()d range, or overwrites written zeros. Usage: python3 fdatasync-probe.py [DIR]
import os, sys, time, resource
def cpu_total():
    with open('/proc/stat') as f:
        v = list(map(int, f.readline().split()[1:]))
    idle = v[3] + v[4]
    return sum(v) - idle  # jiffies busy
N=2000; SZ=4096
buf = b'x'*SZ
def run(mode):
    p = os.path.join(sys.argv[1] if len(sys.argv) > 1 else '.', f'probe-{mode}')
    try: os.unlink(p)
    except: pass
    fd = os.open(p, os.O_RDWR|os.O_CREAT)
    if mode == 'zeroed':
        os.write(fd, b'\0'*(N*SZ+SZ)); os.fsync(fd); os.lseek(fd,0,0)
    elif mode == 'fallocate':
        os.posix_fallocate(fd, 0, N*SZ+SZ); os.fsync(fd)
    c0 = cpu_total(); t0 = time.perf_counter(); r0 = resource.getrusage(resource.RUSAGE_SELF)
    lat = []
    for i in range(N):
        s = time.perf_counter()
        os.pwrite(fd, buf, i*SZ)
        os.fdatasync(fd)
        lat.append(time.perf_counter()-s)
    t1 = time.perf_counter(); c1 = cpu_total(); r1 = resource.getrusage(resource.RUSAGE_SELF)
    lat.sort()
    os.close(fd); os.unlink(p)
    hz = os.sysconf('SC_CLK_TCK')
    print(f"{mode:10s} p50 {lat[N//2]*1e6:6.0f} us  mean {(t1-t0)/N*1e6:6.0f} us  machine cpu/op {(c1-c0)/hz/N*1e6:6.0f} us  self sys/op {(r1.ru_stime-r0.ru_stime)/N*1e6:5.0f} us")
for r in range(2):
    for m in ['append','fallocate','zeroed']:
        run(m)
