/* SPDX-License-Identifier: MIT */
/* Stream sockets over vsock: see vsock.h. */
#include "vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#define KC_VSOCK_BUF 65536

static struct sockaddr_vm kc_vsock_addr(uint32_t cid, uint32_t port)
{
	struct sockaddr_vm a;

	memset(&a, 0, sizeof(a));
	a.svm_family = AF_VSOCK;
	a.svm_cid = cid;
	a.svm_port = port;
	return a;
}

int kc_vsock_connect(uint32_t cid, uint32_t port)
{
	struct sockaddr_vm a = kc_vsock_addr(cid, port);
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
		return s;
	e = errno;
	close(s);
	return -e;
}

int kc_vsock_listen(uint32_t port)
{
	struct sockaddr_vm a = kc_vsock_addr(VMADDR_CID_ANY, port);
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 8) == 0)
		return s;
	e = errno;
	close(s);
	return -e;
}

/* All of @len bytes to @fd (blocking). */
static int kc_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* What kc_vsock_pipe holds: input read but not yet taken by the socket. */
struct kc_pipe {
	char *to_sock, *to_out;
	size_t pend, off;
	bool in_open, shut;
};

/* The socket is readable: copy what it has to @out. 1: the peer closed. */
static int kc_pipe_from_sock(struct kc_pipe *p, int sock, int out)
{
	ssize_t n = read(sock, p->to_out, KC_VSOCK_BUF);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return 1;
	return kc_write_all(out, p->to_out, (size_t)n);
}

/* The socket can take more: as much of the pending input as it will. */
static int kc_pipe_to_sock(struct kc_pipe *p, int sock)
{
	ssize_t n = write(sock, p->to_sock + p->off, p->pend - p->off);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	p->off += (size_t)n;
	if (p->off == p->pend)
		p->pend = p->off = 0;
	return 0;
}

static int kc_pipe_from_in(struct kc_pipe *p, int in)
{
	ssize_t n = read(in, p->to_sock, KC_VSOCK_BUF);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		p->in_open = false;
	p->pend = (size_t)n;
	p->off = 0;
	return 0;
}

static int kc_pipe_loop(struct kc_pipe *p, int sock, int in, int out)
{
	for (;;) {
		struct pollfd fds[2] = { { .fd = sock, .events = POLLIN },
					 { .fd = in, .events = POLLIN } };
		bool want_in = p->in_open && !p->pend;
		int ret = 0;

		if (!p->in_open && !p->pend && !p->shut) {
			shutdown(sock, SHUT_WR); /* the peer reads the end of our data */
			p->shut = true;
		}
		if (p->pend)
			fds[0].events |= POLLOUT;
		if (poll(fds, want_in ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ret = kc_pipe_from_sock(p, sock, out);
			if (ret)
				return ret > 0 ? 0 : ret;
		}
		if (!ret && p->pend && (fds[0].revents & POLLOUT))
			ret = kc_pipe_to_sock(p, sock);
		if (!ret && want_in && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			ret = kc_pipe_from_in(p, in);
		if (ret)
			return ret;
	}
}

int kc_vsock_pipe(int sock, int in, int out)
{
	struct kc_pipe p = { .in_open = true };
	int flags = fcntl(sock, F_GETFL), ret;

	if (flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	p.to_sock = malloc(KC_VSOCK_BUF);
	p.to_out = malloc(KC_VSOCK_BUF);
	ret = p.to_sock && p.to_out ? kc_pipe_loop(&p, sock, in, out) : -ENOMEM;
	free(p.to_sock);
	free(p.to_out);
	return ret;
}

int kc_vsock_number(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v >= 0xffffffffull)
		return -1;
	*out = (uint32_t)v;
	return 0;
}
