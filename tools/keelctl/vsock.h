/* SPDX-License-Identifier: MIT */
/*
 * Stream sockets over vsock (AF_VSOCK), shared by `keelctl vsock` in the
 * management partition and keel-vsock, the small tool of a microVM's
 * initramfs. Each returns 0 or a socket, or -errno.
 */
#ifndef KC_VSOCK_H
#define KC_VSOCK_H

#include <stdint.h>

/* A stream connected to @cid's @port. */
int kc_vsock_connect(uint32_t cid, uint32_t port);

/* A stream socket listening on @port of this partition's CID. */
int kc_vsock_listen(uint32_t port);

/*
 * Copy @in to @sock and @sock to @out until the peer closes its side; when
 * @in ends, the socket's sending side is shut down (the peer reads the end)
 * and what the peer still sends is copied on. Never blocks one direction on
 * the other, so an echoing peer cannot deadlock it.
 */
int kc_vsock_pipe(int sock, int in, int out);

/* A CID or port in decimal, below 2^32 - 1: 0, or -1. */
int kc_vsock_number(const char *s, uint32_t *out);

#endif /* KC_VSOCK_H */
