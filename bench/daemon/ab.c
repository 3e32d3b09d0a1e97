// ab: runs several commands alternately (round-robin, so a busy machine's load falls on all of
// them alike) and reports, per command, the median and minimum wall time and the median and
// mean CPU (user + sys from wait4's rusage: every thread, exec and exit included).
//   cc -O2 -o ab bench/daemon/ab.c
//   ./ab ROUNDS -- CMD_A ARGS... -- CMD_B ARGS... [-- ...]
// Each command runs 3 untimed warm-up rounds first; stdout and stderr go to /dev/null; a
// command that fails stops the run. Commands are exec'd directly (no shell, no $PATH lookup).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kMaxCommands = 8, kWarmup = 3 };

static int Compare(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double Ms(struct timeval tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; }

int main(int argc, char** argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: ab ROUNDS -- CMD ARGS... [-- CMD ARGS...]\n");
    return 2;
  }
  int rounds = atoi(argv[1]);
  char** commands[kMaxCommands];
  int count = 0;
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--") != 0) continue;
    if (count == kMaxCommands || i + 1 >= argc) return 2;
    argv[i] = NULL;
    commands[count++] = &argv[i + 1];
  }
  double* wall[kMaxCommands];
  double* cpu[kMaxCommands];
  for (int k = 0; k < count; ++k) {
    wall[k] = calloc(rounds, sizeof(double));
    cpu[k] = calloc(rounds, sizeof(double));
  }
  for (int r = -kWarmup; r < rounds; ++r) {
    for (int k = 0; k < count; ++k) {
      struct timespec start, end;
      clock_gettime(CLOCK_MONOTONIC, &start);
      pid_t pid = fork();
      if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execv(commands[k][0], commands[k]);
        _exit(127);
      }
      int status = 0;
      struct rusage usage;
      if (pid < 0 || wait4(pid, &status, 0, &usage) != pid) return 1;
      clock_gettime(CLOCK_MONOTONIC, &end);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ab: '%s' failed (status %d)\n", commands[k][0], status);
        return 1;
      }
      if (r < 0) continue;
      wall[k][r] = (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
      cpu[k][r] = Ms(usage.ru_utime) + Ms(usage.ru_stime);
    }
  }
  for (int k = 0; k < count; ++k) {
    double sum = 0;
    for (int i = 0; i < rounds; ++i) sum += cpu[k][i];
    qsort(wall[k], rounds, sizeof(double), Compare);
    qsort(cpu[k], rounds, sizeof(double), Compare);
    printf("%-44s wall median %6.2f ms (min %6.2f) | CPU median %6.2f ms, mean %6.2f ms\n",
           commands[k][0], wall[k][rounds / 2], wall[k][0], cpu[k][rounds / 2], sum / rounds);
  }
  return 0;
}
