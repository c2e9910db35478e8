/* SPDX-License-Identifier: MIT */
/*
 * The switch inside Keel (core/netsw.c): named networks of ports, each port
 * one partition's NIC. It decides where a frame goes and counts what it
 * drops; it knows nothing of virtio. A device model hands it a frame whose
 * bytes stay in the sender's buffers, and each receiving port's deliver()
 * copies them once, straight into its own buffers.
 */
#ifndef KEEL_NETSW_H
#define KEEL_NETSW_H

#include <keel/abi.h>
#include <keel/spinlock.h>
#include <keel/types.h>

#define NETSW_MAX_NETWORKS KEEL_MAX_NETWORKS
#define NETSW_NAME_MAX KEEL_NET_NAME_MAX /* with the NUL */
#define NETSW_MAX_PORTS KEEL_NET_MAX_PORTS /* per network */
#define NETSW_FDB_SIZE 256 /* addresses learned behind uplink ports, per network */
#define NETSW_ETH_HDR 14u
#define NETSW_FRAME_MAX 65550u /* a 64 KiB GSO frame, its Ethernet header and a tag */

#define NETSW_PORT_UPLINK KEEL_NET_PORT_UPLINK /* may send from any address: learned */

/* Why a frame was dropped: the ABI's KEEL_NET_DROP_* numbers (keel_net_rec.drops). */
enum netsw_drop {
	NETSW_DROP_SPOOF = KEEL_NET_DROP_SPOOF, /* a source address the port may not use */
	NETSW_DROP_RUNT = KEEL_NET_DROP_RUNT, /* shorter than an Ethernet header */
	NETSW_DROP_OVERSIZE =
		KEEL_NET_DROP_OVERSIZE, /* longer than NETSW_FRAME_MAX or the port's */
	NETSW_DROP_MALFORMED = KEEL_NET_DROP_MALFORMED, /* the device found its buffers unusable */
	/* The receiver had no buffer for it (counted there) */
	NETSW_DROP_NO_BUFFER = KEEL_NET_DROP_NO_BUFFER,
	/* A segmentation offload the receiver does not take (counted there) */
	NETSW_DROP_OFFLOAD = KEEL_NET_DROP_OFFLOAD,
	/* A broadcast or multicast frame that would have taken the buffers kept for the
	 * receiver's own frames (counted there) */
	NETSW_DROP_GROUP_HELD = KEEL_NET_DROP_GROUP_HELD,
	NETSW_DROPS
};
#define NETSW_DELIVERED NETSW_DROPS /* deliver(): the frame is in the receiver's buffers */
_Static_assert(NETSW_DROPS <= KEEL_NET_DROPS, "every drop reason has a slot in the ABI");

/* Whether @mac is a group address: the group bit (broadcast, all ones, has it too). */
static inline bool netsw_group_addressed(const u8 *mac)
{
	return mac[0] & 1;
}

struct netsw_stats {
	u64 tx_packets, tx_bytes, rx_packets, rx_bytes;
	u64 drops[NETSW_DROPS];
};

struct netsw_frame;

/*
 * One end of a network. The device fills mac, flags, deliver and owner
 * before netsw_attach(); the switch owns the rest.
 */
struct netsw_port {
	struct netsw_net *net; /* NULL while detached */
	u8 mac[6];
	u16 flags; /* NETSW_PORT_* */
	/*
	 * Put @f into @p's receive buffers: NETSW_DELIVERED, or why it could
	 * not (NETSW_DROP_NO_BUFFER: no room, a drop, never a wait;
	 * NETSW_DROP_OFFLOAD...), counted at @p. On the sender's CPU with the
	 * network's lock held: it may take only locks nothing else holds while
	 * taking the network's.
	 */
	u32 (*deliver)(struct netsw_port *p, const struct netsw_frame *f);
	void *owner;
	u32 part_id; /* the partition whose NIC it is: for listings only */
	struct netsw_stats stats; /* under the network's lock */
};

/* A port as a listing shows it (netsw_ports_info). */
struct netsw_port_info {
	u8 mac[6];
	u16 flags;
	u32 part_id;
	struct netsw_stats stats;
};

/* A frame on its way: its Ethernet header copied out, its bytes where the sender keeps them. */
struct netsw_frame {
	u8 eth[NETSW_ETH_HDR]; /* destination, source, EtherType */
	u32 len; /* the whole frame, header included */
	const void *src; /* the sender's buffers, for copy() */
	/* Copy [off, off + n) of the frame to @dst; returns the bytes copied. */
	u64 (*copy)(const struct netsw_frame *f, u64 off, void *dst, u64 n);
	u8 offload[12]; /* the sender's offload metadata (virtio-net header), passed unchanged */
};

struct netsw_fdb_entry {
	u8 mac[6];
	u16 used; /* slot in use */
	struct netsw_port *port;
	u64 stamp; /* last time it was seen as a source (replacement order) */
};

struct netsw_net {
	char name[NETSW_NAME_MAX];
	u32 nports;
	struct spinlock lock; /* ports, fdb, every port's stats */
	u64 clock; /* stamps for the fdb */
	struct netsw_port *ports[NETSW_MAX_PORTS];
	struct netsw_fdb_entry fdb[NETSW_FDB_SIZE];
};

/* The network called @name, made if new; NULL if the name is bad or every slot is taken. */
struct netsw_net *netsw_network(const char *name);

/* The network called @name if it exists. */
struct netsw_net *netsw_find(const char *name);

struct keel_boot_info;

/* The networks of keel.cfg, made in its order so a KEEL_DEV_NET's backend is the index. */
void netsw_boot(const struct keel_boot_info *bi);

/* The @index-th network made (keel.cfg's order at boot), or NULL. */
struct netsw_net *netsw_at(u32 index);

/*
 * Attach @p (mac, flags, deliver set) to @net: 0, -KEEL_EINVAL (a multicast
 * or all-zero address), -KEEL_EEXIST (another port has that address) or
 * -KEEL_ENOSPC (the network is full).
 */
int netsw_attach(struct netsw_net *net, struct netsw_port *p);

/* Detach @p: no frame reaches it once this returns, and what was learned behind it is forgotten. */
void netsw_detach(struct netsw_port *p);

/* Switch one frame from @from. Bounded work: at most one deliver() per other port. */
void netsw_send(struct netsw_port *from, const struct netsw_frame *f);

/* Count a frame the device could not even hand over (bad buffers) against @p. */
void netsw_count_drop(struct netsw_port *p, enum netsw_drop why);

/* A stable locally administered unicast address for @part on @net (02:xx:xx:xx:xx:xx). */
void netsw_mac_derive(const char *part, const char *net, u8 mac[6]);

/* Not multicast (nor broadcast) and not all zeros: an address a port may have. */
bool netsw_mac_ok(const u8 mac[6]);

/*
 * Up to @max of @net's ports, as they are at one moment (under its lock),
 * into @out: how many it has.
 */
u32 netsw_ports_info(struct netsw_net *net, struct netsw_port_info *out, u32 max);

/* A copy of @p's counters, taken under the network's lock. */
void netsw_port_stats(struct netsw_port *p, struct netsw_stats *out);

#endif /* KEEL_NETSW_H */
