// wire_floor: the floor of any gRPC client for one call. It replays the exact bytes a real
// kilnctl sent (HTTP/2 preface, SETTINGS, WINDOW_UPDATE, the call's HEADERS and DATA, captured
// by wire_floor.sh) on kilnd's Unix socket, ACKs SETTINGS and PINGs, and reads frames until
// the call's trailers (HEADERS with END_STREAM on stream 1). kilnd's gRPC server is unchanged,
// so the time left is exec, one connect, kilnd's own work and the reads: what a hand-written
// client could get down to. A measurement probe only (no HPACK decoding, no flow control).
//   wire_floor SOCKET REQUEST_BYTES_FILE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static unsigned char buf[1 << 20];

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  static unsigned char request[1 << 16];
  int in = open(argv[2], O_RDONLY);
  ssize_t n = in < 0 ? -1 : read(in, request, sizeof(request));
  if (n <= 0) return 2;
  close(in);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
  if (connect(s, (struct sockaddr*)&addr, sizeof(addr)) != 0) return perror("connect"), 1;
  if (write(s, request, n) != n) return 1;
  size_t have = 0, off = 0;
  for (;;) {
    while (have - off >= 9) {
      const unsigned char* f = buf + off;
      size_t len = (size_t)f[0] << 16 | f[1] << 8 | f[2];
      int type = f[3], flags = f[4];
      unsigned stream = (unsigned)(f[5] & 0x7f) << 24 | f[6] << 16 | f[7] << 8 | f[8];
      if (have - off < 9 + len) break;
      if (type == 4 && !(flags & 1)) {  // SETTINGS: ACK
        static const unsigned char ack[9] = {0, 0, 0, 4, 1, 0, 0, 0, 0};
        if (write(s, ack, sizeof(ack)) != sizeof(ack)) return 1;
      } else if (type == 6 && !(flags & 1)) {  // PING: ACK with the same payload
        unsigned char pong[17] = {0, 0, 8, 6, 1, 0, 0, 0, 0};
        memcpy(pong + 9, f + 9, 8);
        if (write(s, pong, sizeof(pong)) != sizeof(pong)) return 1;
      } else if (type == 3 || type == 7) {  // RST_STREAM, GOAWAY
        fprintf(stderr, "wire_floor: kilnd ended the call (frame type %d)\n", type);
        return 1;
      } else if (type == 1 && stream == 1 && (flags & 1)) {  // trailers
        return 0;
      }
      off += 9 + len;
    }
    if (off == have) off = have = 0;
    if (have == sizeof(buf)) return 1;
    ssize_t r = read(s, buf + have, sizeof(buf) - have);
    if (r <= 0) return fprintf(stderr, "wire_floor: kilnd closed the connection\n"), 1;
    have += (size_t)r;
  }
}
