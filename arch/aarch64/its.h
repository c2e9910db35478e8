/* SPDX-License-Identifier: MIT */
/*
 * The host's GICv3 ITS (arch/aarch64/its.c, host tested): its tables, its
 * command queue, and which LPI each DeviceID/EventID becomes on which core.
 * The LPI side (configuration and pending tables, EnableLPIs) is msi.c's.
 */
#ifndef KEEL_ARCH_AARCH64_ITS_H
#define KEEL_ARCH_AARCH64_ITS_H

#include <keel/types.h>

/*
 * Events per device: matches IOMMU_IRTES in core/include/keel/iommu.h (the
 * event ID is the IOMMU's interrupt-remapping index).
 */
#define ITS_EVENTS 256u

/*
 * One ITS (the first the device tree names). Every function may be called
 * from any CPU: one lock serialises the command queue, and each command has
 * run (GITS_CREADR passed it) before the function returns. A command the
 * ITS refuses is named on the console and gives -KEEL_EIO; one the ITS does
 * not run within a second gives -KEEL_ETIMEDOUT, a console line, and an ITS
 * no longer ready (nothing it may still read is freed). Every command
 * function returns -KEEL_ENODEV while the ITS is not ready.
 */

/*
 * Probe GITS_TYPER, allocate and program the device and collection tables
 * (GITS_BASER<n>) and the command queue (GITS_CBASER), then enable the ITS.
 * Boot CPU. Returns 0, or -KEEL_E* with a console line saying why; then the
 * ITS is off and its_ready() is false. Called again, it starts over.
 */
int its_init(hpa_t base);

/* its_init() succeeded and the ITS has run every command since. */
bool its_ready(void);

/* The physical address of GITS_TRANSLATER, where a device writes its EventID (0: not ready). */
hpa_t its_doorbell(void);

/* DeviceIDs the device table covers: 0 .. this - 1 (0: not ready). */
u32 its_device_id_limit(void);

/*
 * MAPC collection @icid to a redistributor, then SYNC: @rd_base (the
 * RD_base frame's physical address) where GITS_TYPER.PTA is 1, else
 * @rd_processor (GICR_TYPER.Processor_Number). Mapping it again moves it.
 * -KEEL_EINVAL: @icid beyond the collections the ITS and Keel have (one per
 * CPU), @rd_base not 64 KiB aligned or @rd_processor too big for the field.
 */
int its_map_collection(u32 icid, hpa_t rd_base, u32 rd_processor);

/*
 * Make device @devid's @event LPI @lpi on collection @icid: MAPD with a new
 * interrupt translation table (ITS_EVENTS events) if the device has none,
 * MAPTI, SYNC to the collection's redistributor. -KEEL_EINVAL, with no
 * command sent: @devid at or beyond its_device_id_limit(), @event >=
 * ITS_EVENTS, @lpi below 8192 or beyond the ITS's ID bits, @icid not mapped,
 * or @event mapped already. -KEEL_ENOMEM: no memory for the table;
 * -KEEL_ENOSPC: Keel tracks as many devices as it can. On failure nothing
 * changed.
 */
int its_map_event(u32 devid, u32 event, u32 lpi, u32 icid);

/*
 * DISCARD @devid's @event (its LPI is no longer made, and no longer pending),
 * SYNC; after the device's last event, MAPD V=0, SYNC, and its table is
 * freed. -KEEL_EINVAL for an event not mapped.
 */
int its_unmap_event(u32 devid, u32 event);

#endif /* KEEL_ARCH_AARCH64_ITS_H */
