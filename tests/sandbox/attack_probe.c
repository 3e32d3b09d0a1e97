// A static program copied into the sandbox's rootfs that tries to escape. Each attack prints
// "<name>: BLOCKED (<errno>)" or "<name>: ESCAPED <detail>". The test requires every attack
// it knows to be BLOCKED.
//   attack_probe attacks <host-marker-path> <host-port> <host-ip|-> <host-pid>
//   attack_probe forkbomb   (forks until fork fails; prints "forked=N errno=E")
//   attack_probe memhog MB  (touches MB MiB; prints "allocated=N")
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void Report(const char* name, long rc, const char* detail) {
  if (rc < 0) {
    const char* en = strerrorname_np(errno);
    printf("%s: BLOCKED (%s)\n", name, en ? en : "?");
  } else {
    printf("%s: ESCAPED %s\n", name, detail ? detail : "");
  }
  fflush(stdout);
}

static long OpenRead(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  char buf[64];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n <= 0) {
    errno = n == 0 ? ENODATA : errno;
    return -1;
  }
  return 0;
}

static long OpenWrite(const char* path, const char* data) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -1;
  ssize_t n = write(fd, data, strlen(data));
  close(fd);
  return n < 0 ? -1 : 0;
}

static long Connect(const char* ip, int port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (s < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  int rc = connect(s, (struct sockaddr*)&a, sizeof(a));
  if (rc < 0 && errno == EINPROGRESS) {
    fd_set w;
    FD_ZERO(&w);
    FD_SET(s, &w);
    struct timeval tv = {2, 0};
    if (select(s + 1, NULL, &w, NULL, &tv) <= 0) {
      errno = ETIMEDOUT;
      close(s);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    rc = err ? -1 : 0;
    errno = err;
  }
  close(s);
  return rc;
}

// In a child, so the parent's root stays put: chroot into a subdir, climb out, chroot again.
static long ChrootEscape(const char* marker) {
  mkdir("/tmp/jail", 0755);
  pid_t pid = fork();
  if (pid == 0) {
    if (chroot("/tmp/jail") != 0) _exit(10);
    for (int i = 0; i < 64; ++i) (void)!chdir("..");
    (void)!chroot(".");
    int fd = open(marker, O_RDONLY);
    _exit(fd >= 0 ? 0 : 11);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  errno = ENOENT;
  return -1;
}

static long CloneNewUser(void) {
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid;
}

static long HostFds(char* detail, size_t cap) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  long found = -1;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd == dirfd(d)) continue;
    char path[64], target[256] = {0};
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    (void)!readlink(path, target, sizeof(target) - 1);
    if (fd > 2 || (fd == 0 && strcmp(target, "/dev/null") != 0)) {
      snprintf(detail, cap, "fd %d -> %s", fd, target);
      found = 0;
    }
  }
  closedir(d);
  if (found < 0) errno = ENOENT;
  return found;
}

static int ForkBomb(void) {
  int n = 0;
  for (;;) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) break;
    if (++n > 100000) break;
  }
  printf("forked=%d errno=%s\n", n, strerrorname_np(errno));
  fflush(stdout);
  return 0;
}

// Touches `mb` MiB in 1 MiB chunks; prints how many it got.
static int MemHog(int mb) {
  int got = 0;
  for (; got < mb; ++got) {
    char* p = malloc(1 << 20);
    if (p == NULL) break;
    memset(p, 1, 1 << 20);
  }
  printf("allocated=%d\n", got);
  fflush(stdout);
  return got == mb ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "forkbomb") == 0) return ForkBomb();
  if (argc >= 3 && strcmp(argv[1], "memhog") == 0) return MemHog(atoi(argv[2]));
  if (argc < 6) {
    fprintf(stderr, "usage: attack_probe attacks MARKER PORT IP PID\n");
    return 2;
  }
  const char* marker = argv[2];
  int port = atoi(argv[3]);
  const char* host_ip = argv[4];
  pid_t host_pid = atoi(argv[5]);
  char buf[512];
  mkdir("/tmp/m", 0755);

  Report("mount_tmpfs", mount("none", "/tmp/m", "tmpfs", 0, ""), NULL);
  Report("mount_proc", mount("proc", "/tmp/m", "proc", 0, ""), NULL);
  Report("bind_root", mount("/", "/tmp/m", NULL, MS_BIND | MS_REC, NULL), NULL);
  Report("umount_resolv_conf", umount2("/etc/resolv.conf", MNT_DETACH), NULL);
  Report("umount_proc_sys", umount2("/proc/sys", MNT_DETACH), NULL);
  Report("remount_proc_sys_rw", mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL), NULL);
  Report("fsopen", syscall(SYS_fsopen, "tmpfs", 0), NULL);
  Report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */), NULL);
  Report("unshare_user", unshare(CLONE_NEWUSER), NULL);
  Report("unshare_mount", unshare(CLONE_NEWNS), NULL);
  Report("clone_newuser", CloneNewUser(), NULL);
  int nsfd = open("/proc/1/ns/user", O_RDONLY);
  Report("setns_user", nsfd < 0 ? -1 : setns(nsfd, CLONE_NEWUSER), NULL);
  Report("pivot_root", syscall(SYS_pivot_root, ".", "."), NULL);
  Report("chroot_escape", ChrootEscape(marker), marker);
  Report("ptrace_init", ptrace(PTRACE_ATTACH, 1, 0, 0), NULL);
  Report("ptrace_host_pid", ptrace(PTRACE_ATTACH, host_pid, 0, 0), NULL);
  Report("read_marker", OpenRead(marker), marker);
  snprintf(buf, sizeof(buf), "/proc/1/root%s", marker);
  Report("proc1_root", OpenRead(buf), buf);
  snprintf(buf, sizeof(buf), "/proc/self/root/../../../../..%s", marker);
  Report("proc_self_root_dotdot", OpenRead(buf), buf);
  snprintf(buf, sizeof(buf), "/../../../../../../..%s", marker);
  Report("dotdot_chain", OpenRead(buf), buf);
  Report("read_kcore", OpenRead("/proc/kcore"), NULL);
  Report("read_proc_keys", OpenRead("/proc/keys"), NULL);
  Report("write_proc_sys", OpenWrite("/proc/sys/kernel/hostname", "pwned"), NULL);
  Report("write_drop_caches", OpenWrite("/proc/sys/vm/drop_caches", "3"), NULL);
  Report("write_sysrq", OpenWrite("/proc/sysrq-trigger", "h"), NULL);
  Report("write_sys", OpenWrite("/sys/kernel/uevent_helper", "/pwn"), NULL);
  Report("mknod_block", mknod("/tmp/blk", S_IFBLK | 0600, makedev(8, 0)), NULL);
  Report("mknod_mem", mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)), NULL);
  Report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0), NULL);
  Report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0), NULL);
  Report("init_module", syscall(SYS_init_module, buf, 0, ""), NULL);
  int self = open("/proc/self/exe", O_RDONLY);
  Report("finit_module", syscall(SYS_finit_module, self, "", 0), NULL);
  close(self);
  Report("delete_module", syscall(SYS_delete_module, "ext4", O_NONBLOCK), NULL);
  Report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1), NULL);
  Report("add_key", syscall(SYS_add_key, "user", "kiln", "x", 1, KEY_SPEC_SESSION_KEYRING), NULL);
  Report("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                           LINUX_REBOOT_CMD_POWER_OFF, 0), NULL);
  Report("sethostname", sethostname("pwned", 5), NULL);
  Report("raw_socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), NULL);
  Report("packet_socket", socket(AF_PACKET, SOCK_RAW, htons(3)), NULL);
  Report("connect_host_loopback", Connect("127.0.0.1", port), NULL);
  if (strcmp(host_ip, "-") != 0) Report("connect_host_ip", Connect(host_ip, port), host_ip);
  Report("host_fd", HostFds(buf, sizeof(buf)), buf);
  unsigned char handle[64] = {8, 0, 0, 0, 1, 0, 0, 0};
  Report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY), NULL);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  Report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)), NULL);
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof(pe));
  pe.size = sizeof(pe);
  pe.type = PERF_TYPE_SOFTWARE;
  Report("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0), NULL);
  Report("userfaultfd", syscall(SYS_userfaultfd, 0), NULL);
  Report("io_uring_setup", syscall(SYS_io_uring_setup, 1, buf), NULL);
  printf("done\n");
  return 0;
}
