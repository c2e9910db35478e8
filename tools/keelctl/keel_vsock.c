/* SPDX-License-Identifier: MIT */
/*
 * keel-vsock: the vsock tool of a microVM's initramfs, and the agent end of
 * `keelctl vsock`. A partition's CID is 2 for the management partition, else
 * what keel.cfg or `keelctl create --vsock` gave it (keelctl stats shows it).
 *
 *   keel-vsock connect CID PORT   stdin into a stream to CID:PORT, the stream to stdout
 *   keel-vsock listen PORT        the same for the first connection to PORT
 *   keel-vsock echo PORT          send back what each connection to PORT sends (runs
 *                                 until killed, a process per connection)
 *
 * Exit status: 0, 1 if the connection failed (the reason on stderr: a
 * connection Keel's policy forbids, or to a port nobody listens on, is
 * reset), 2 for a usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vsock.h"

static int usage(void)
{
	fprintf(stderr, "usage: keel-vsock connect CID PORT | listen PORT | echo PORT\n");
	return 2;
}

#define ANY_CID 0xffffffffu /* this partition's own: no CID in the message */

static int fail(const char *what, uint32_t cid, uint32_t port, int err)
{
	if (cid == ANY_CID)
		fprintf(stderr, "keel-vsock: %s port %u: %s\n", what, port, strerror(-err));
	else
		fprintf(stderr, "keel-vsock: %s cid %u port %u: %s\n", what, cid, port,
			strerror(-err));
	return 1;
}

/* Everything the peer sends, back to it, until it closes. */
static void echo_one(int c)
{
	static char buf[65536];

	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf)), off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		while (off < n) {
			ssize_t w = write(c, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return;
			off += w;
		}
	}
}

static int serve(uint32_t port, int echo)
{
	int s = kc_vsock_listen(port), ret;

	if (s < 0)
		return fail("listen", ANY_CID, port, s);
	signal(SIGCHLD, SIG_IGN); /* no zombies from the echo children */
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			return fail("accept", ANY_CID, port, -errno);
		if (!echo) {
			close(s);
			ret = kc_vsock_pipe(c, 0, 1);
			close(c);
			return ret ? fail("stream", ANY_CID, port, ret) : 0;
		}
		if (fork() == 0) {
			close(s);
			echo_one(c);
			_exit(0);
		}
		close(c);
	}
}

int main(int argc, char **argv)
{
	uint32_t cid, port;
	int s, ret;

	if (argc == 4 && !strcmp(argv[1], "connect")) {
		if (kc_vsock_number(argv[2], &cid) || kc_vsock_number(argv[3], &port))
			return usage();
		s = kc_vsock_connect(cid, port);
		if (s < 0)
			return fail("connect", cid, port, s);
		ret = kc_vsock_pipe(s, 0, 1);
		close(s);
		return ret ? fail("stream", cid, port, ret) : 0;
	}
	if (argc == 3 && (!strcmp(argv[1], "listen") || !strcmp(argv[1], "echo"))) {
		if (kc_vsock_number(argv[2], &port))
			return usage();
		return serve(port, !strcmp(argv[1], "echo"));
	}
	return usage();
}
