/* SPDX-License-Identifier: MIT */
/*
 * keel-blkbench: the block benchmark of a microVM's initramfs (`make bench`,
 * tools/bench_blk.py). The same binary runs in a Keel microVM and in a QEMU
 * guest booted directly, so the two differ only in the virtio-blk device
 * under it.
 *
 *   keel-blkbench DEV MIB OPS
 *
 * On the first MIB MiB of DEV (opened O_DIRECT: no page cache), in order:
 * sequential read and write in 1 MiB requests, then OPS random 4 KiB reads
 * and OPS random 4 KiB writes at offsets from a fixed-seed generator (the
 * same on every run), and the same count of sequential 4 KiB reads. Writes
 * end with fdatasync, inside their time. Prints one line:
 *
 *   blkbench dev=DEV mib=MIB ops=OPS seq_read_mibs=R seq_write_mibs=W
 *            rand_read_iops=RR rand_write_iops=RW seq4k_read_iops=S
 *
 * (one line, without the break). It overwrites that part of DEV. Exit
 * status 0, 1 on an I/O error (its reason on stderr), 2 for a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)
#define BLOCK 4096u
#define OPS_MAX 1000000ul
#define MIB_MAX 65536ul

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64: the same offsets on every run and both sides of the benchmark. */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int fail(const char *what, off_t at)
{
	fprintf(stderr, "keel-blkbench: %s at %lld: %s\n", what, (long long)at, strerror(errno));
	return -1;
}

/* Every @len-byte request at the offsets @at(i) for i < @n; the seconds it took, or < 0. */
static double run(int fd, void *buf, size_t len, unsigned long n, int write,
		  off_t (*at)(unsigned long i, void *ctx), void *ctx)
{
	double t0 = now_s();

	for (unsigned long i = 0; i < n; i++) {
		off_t off = at(i, ctx);
		ssize_t got = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

		if (got >= 0 && got != (ssize_t)len) {
			fprintf(stderr, "keel-blkbench: short %s at %lld (smaller than MIB MiB?)\n",
				write ? "write" : "read", (long long)off);
			return -1;
		}
		if (got < 0)
			return fail(write ? "write" : "read", off);
	}
	if (write && fdatasync(fd))
		return fail("fdatasync", 0);
	return now_s() - t0;
}

static off_t seq_at(unsigned long i, void *ctx)
{
	return (off_t)i * *(size_t *)ctx;
}

struct rand_ctx {
	uint64_t state;
	unsigned long blocks;
};

static off_t rand_at(unsigned long i, void *ctx)
{
	struct rand_ctx *r = ctx;

	(void)i;
	return (off_t)(next_random(&r->state) % r->blocks) * BLOCK;
}

static int parse(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || !*s || *out == 0 || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long mib, ops;
	size_t big = MIB, small = BLOCK;
	struct rand_ctx r = { 0x9e3779b97f4a7c15ull, 0 };
	double sr, sw, rr, rw, s4;
	void *buf;
	int fd;

	if (argc != 4 || parse(argv[2], MIB_MAX, &mib) || parse(argv[3], OPS_MAX, &ops)) {
		fprintf(stderr, "usage: keel-blkbench DEV MIB OPS (MIB 1..%lu, OPS 1..%lu)\n",
			MIB_MAX, OPS_MAX);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, BLOCK, MIB)) {
		fprintf(stderr, "keel-blkbench: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	memset(buf, 0x5a, MIB);
	r.blocks = mib * (MIB / BLOCK);
	sr = run(fd, buf, MIB, mib, 0, seq_at, &big);
	sw = sr < 0 ? -1 : run(fd, buf, MIB, mib, 1, seq_at, &big);
	rr = sw < 0 ? -1 : run(fd, buf, BLOCK, ops, 0, rand_at, &r);
	rw = rr < 0 ? -1 : run(fd, buf, BLOCK, ops, 1, rand_at, &r);
	s4 = rw < 0 ? -1 : run(fd, buf, BLOCK, ops < r.blocks ? ops : r.blocks, 0, seq_at, &small);
	close(fd);
	if (s4 <= 0)
		return 1;
	printf("blkbench dev=%s mib=%lu ops=%lu seq_read_mibs=%.2f seq_write_mibs=%.2f "
	       "rand_read_iops=%.0f rand_write_iops=%.0f seq4k_read_iops=%.0f\n",
	       argv[1], mib, ops, mib / sr, mib / sw, ops / rr, ops / rw,
	       (ops < r.blocks ? ops : r.blocks) / s4);
	return 0;
}
