/* SPDX-License-Identifier: MIT */
/*
 * The switch inside Keel: which ports of a network a frame goes to.
 *
 * A port has one address, and a frame from it must carry that address as
 * its source (else it is dropped and counted: no partition speaks for
 * another). An uplink port (the management partition bridging the outside
 * world) may send from any address but a port's own; the addresses behind it
 * are learned into a bounded table, the least recently seen replaced first.
 * Broadcast, multicast and unknown unicast go to every other port of the
 * same network, never further. Each network has one lock: senders hold it
 * while they deliver, so a port detached under it is never delivered to
 * again, and a receiver's deliver() takes only its own leaf lock inside it.
 */
#include <keel/abi.h>
#include <keel/boot_info.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/netsw.h>

static struct netsw_net netsw_nets[NETSW_MAX_NETWORKS];
static struct spinlock netsw_nets_lock = SPINLOCK_INIT;

bool netsw_mac_ok(const u8 mac[6])
{
	static const u8 zero[6];

	return !netsw_group_addressed(mac) && memcmp(mac, zero, 6) != 0;
}

/* FNV-1a, 64 bits: stable across builds, which is all a derived address needs. */
static u64 netsw_fnv(u64 h, const char *s)
{
	for (; *s; s++) {
		h ^= (u8)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

void netsw_mac_derive(const char *part, const char *net, u8 mac[6])
{
	u64 h = netsw_fnv(netsw_fnv(0xcbf29ce484222325ull, part), "/");

	h = netsw_fnv(h, net);
	mac[0] = 0x02; /* locally administered, unicast */
	for (u32 i = 1; i < 6; i++)
		mac[i] = (u8)(h >> (8 * i));
}

static bool netsw_name_ok(const char *name)
{
	size_t n = strnlen(name, NETSW_NAME_MAX);

	if (!n || n == NETSW_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static struct netsw_net *netsw_lookup(const char *name)
{
	for (u32 i = 0; i < NETSW_MAX_NETWORKS; i++)
		if (netsw_nets[i].name[0] && !strcmp(netsw_nets[i].name, name))
			return &netsw_nets[i];
	return NULL;
}

struct netsw_net *netsw_find(const char *name)
{
	unsigned long flags;
	struct netsw_net *n;

	if (!netsw_name_ok(name))
		return NULL;
	flags = spin_lock_irqsave(&netsw_nets_lock);
	n = netsw_lookup(name);
	spin_unlock_irqrestore(&netsw_nets_lock, flags);
	return n;
}

struct netsw_net *netsw_at(u32 index)
{
	struct netsw_net *n = index < NETSW_MAX_NETWORKS ? &netsw_nets[index] : NULL;

	return n && READ_ONCE(n->name[0]) ? n : NULL;
}

struct netsw_net *netsw_network(const char *name)
{
	struct netsw_net *n = NULL;
	unsigned long flags;

	if (!netsw_name_ok(name))
		return NULL;
	flags = spin_lock_irqsave(&netsw_nets_lock);
	n = netsw_lookup(name);
	for (u32 i = 0; !n && i < NETSW_MAX_NETWORKS; i++) {
		if (netsw_nets[i].name[0])
			continue;
		n = &netsw_nets[i];
		memset(n, 0, sizeof(*n));
		keel_strlcpy(n->name, name, sizeof(n->name));
	}
	spin_unlock_irqrestore(&netsw_nets_lock, flags);
	return n;
}

/* The attached port whose own address is @mac (under the lock). */
static struct netsw_port *netsw_port_of(const struct netsw_net *net, const u8 *mac)
{
	for (u32 i = 0; i < net->nports; i++)
		if (!memcmp(net->ports[i]->mac, mac, 6))
			return net->ports[i];
	return NULL;
}

int netsw_attach(struct netsw_net *net, struct netsw_port *p)
{
	unsigned long flags;
	int ret = 0;

	if (!netsw_mac_ok(p->mac) || !p->deliver)
		return -KEEL_EINVAL;
	flags = spin_lock_irqsave(&net->lock);
	if (netsw_port_of(net, p->mac)) {
		ret = -KEEL_EEXIST;
	} else if (net->nports == NETSW_MAX_PORTS) {
		ret = -KEEL_ENOSPC;
	} else {
		/* An address learned behind an uplink is now a port's own: forget it. */
		for (u32 i = 0; i < NETSW_FDB_SIZE; i++)
			if (net->fdb[i].used && !memcmp(net->fdb[i].mac, p->mac, 6))
				net->fdb[i].used = 0;
		memset(&p->stats, 0, sizeof(p->stats));
		p->net = net;
		net->ports[net->nports++] = p;
	}
	spin_unlock_irqrestore(&net->lock, flags);
	return ret;
}

void netsw_detach(struct netsw_port *p)
{
	struct netsw_net *net = p->net;
	unsigned long flags;

	if (!net)
		return;
	flags = spin_lock_irqsave(&net->lock);
	for (u32 i = 0; i < net->nports; i++) {
		if (net->ports[i] != p)
			continue;
		net->ports[i] = net->ports[--net->nports];
		net->ports[net->nports] = NULL;
		break;
	}
	for (u32 i = 0; i < NETSW_FDB_SIZE; i++)
		if (net->fdb[i].used && net->fdb[i].port == p)
			net->fdb[i].used = 0;
	p->net = NULL;
	spin_unlock_irqrestore(&net->lock, flags);
}

/* Remember that @mac is behind uplink @p: a free slot, its own, or the least recently seen. */
static void netsw_learn(struct netsw_net *net, struct netsw_port *p, const u8 *mac)
{
	struct netsw_fdb_entry *slot = NULL;

	for (u32 i = 0; i < NETSW_FDB_SIZE; i++) {
		struct netsw_fdb_entry *e = &net->fdb[i];

		if (e->used && !memcmp(e->mac, mac, 6)) {
			slot = e;
			break;
		}
		if (!slot || (slot->used && (!e->used || e->stamp < slot->stamp)))
			slot = e;
	}
	memcpy(slot->mac, mac, 6);
	slot->used = 1;
	slot->port = p;
	slot->stamp = ++net->clock;
}

static struct netsw_port *netsw_fdb_lookup(const struct netsw_net *net, const u8 *mac)
{
	for (u32 i = 0; i < NETSW_FDB_SIZE; i++)
		if (net->fdb[i].used && !memcmp(net->fdb[i].mac, mac, 6))
			return net->fdb[i].port;
	return NULL;
}

/* Whether @from may send with source address @src; uplinks learn it. Under the lock. */
static bool netsw_source_ok(struct netsw_net *net, struct netsw_port *from, const u8 *src)
{
	struct netsw_port *owner;

	if (!memcmp(src, from->mac, 6))
		return true;
	if (!(from->flags & NETSW_PORT_UPLINK) || !netsw_mac_ok(src))
		return false;
	owner = netsw_port_of(net, src);
	if (owner)
		return false; /* an uplink may not speak for a port of the network */
	netsw_learn(net, from, src);
	return true;
}

static void netsw_deliver(struct netsw_port *to, const struct netsw_frame *f)
{
	u32 r = to->deliver(to, f);

	if (r != NETSW_DELIVERED) {
		to->stats.drops[r < NETSW_DROPS ? r : NETSW_DROP_NO_BUFFER]++;
		return;
	}
	to->stats.rx_packets++;
	to->stats.rx_bytes += f->len;
}

void netsw_send(struct netsw_port *from, const struct netsw_frame *f)
{
	struct netsw_net *net = from->net;
	const u8 *dst = f->eth, *src = f->eth + 6;
	struct netsw_port *to = NULL;
	unsigned long flags;

	if (!net)
		return;
	flags = spin_lock_irqsave(&net->lock);
	if (f->len < NETSW_ETH_HDR) {
		from->stats.drops[NETSW_DROP_RUNT]++;
	} else if (f->len > NETSW_FRAME_MAX) {
		from->stats.drops[NETSW_DROP_OVERSIZE]++;
	} else if (!netsw_source_ok(net, from, src)) {
		from->stats.drops[NETSW_DROP_SPOOF]++;
	} else {
		from->stats.tx_packets++;
		from->stats.tx_bytes += f->len;
		if (!netsw_group_addressed(dst)) {
			to = netsw_port_of(net, dst);
			to = to ? to : netsw_fdb_lookup(net, dst);
		}
		if (to && to != from)
			netsw_deliver(to, f);
		else if (!to) /* broadcast, multicast, or nobody known has it: all the others */
			for (u32 i = 0; i < net->nports; i++)
				if (net->ports[i] != from)
					netsw_deliver(net->ports[i], f);
	}
	spin_unlock_irqrestore(&net->lock, flags);
}

void netsw_count_drop(struct netsw_port *p, enum netsw_drop why)
{
	struct netsw_net *net = p->net;
	unsigned long flags;

	if (!net || why >= NETSW_DROPS)
		return;
	flags = spin_lock_irqsave(&net->lock);
	p->stats.drops[why]++;
	spin_unlock_irqrestore(&net->lock, flags);
}

void netsw_port_stats(struct netsw_port *p, struct netsw_stats *out)
{
	struct netsw_net *net = p->net;
	unsigned long flags;

	if (!net) {
		*out = p->stats;
		return;
	}
	flags = spin_lock_irqsave(&net->lock);
	*out = p->stats;
	spin_unlock_irqrestore(&net->lock, flags);
}

u32 netsw_ports_info(struct netsw_net *net, struct netsw_port_info *out, u32 max)
{
	unsigned long flags = spin_lock_irqsave(&net->lock);
	u32 n = net->nports;

	for (u32 i = 0; i < n && i < max; i++) {
		const struct netsw_port *p = net->ports[i];

		memcpy(out[i].mac, p->mac, 6);
		out[i].flags = p->flags;
		out[i].part_id = p->part_id;
		out[i].stats = p->stats;
	}
	spin_unlock_irqrestore(&net->lock, flags);
	return n;
}

void netsw_boot(const struct keel_boot_info *bi)
{
	for (u32 i = 0; i < bi->net_count && i < KEEL_MAX_NETWORKS; i++) {
		char name[NETSW_NAME_MAX];

		memcpy(name, bi->nets[i], sizeof(name));
		name[sizeof(name) - 1] = 0;
		if (netsw_network(name) != netsw_at(i))
			pr_err("network %u '%s': not made (a bad or repeated name)", i, name);
		else
			pr_info("network %u: '%s'", i, name);
	}
}
