// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * keel.ko: /dev/keel for Keel's management partition.
 *
 * Each ioctl of keel_dev.h is one management hypercall of keel/abi.h. The
 * driver never hands Keel a user address: structures are copied into kernel
 * memory, data goes through one physically contiguous bounce buffer, and only
 * the guest-physical addresses of those are named in hypercalls. One mutex
 * serializes the device (Keel serializes management calls anyway).
 *
 * The hypercall instruction and the check that Keel is there are per arch
 * (keel_x86.c, keel_arm64.c; Kbuild picks one).
 */
#include <linux/capability.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/mod_devicetable.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "keel_conduit.h"
#include "keel_dev.h"

/* ---- device state -------------------------------------------------------- */

static DEFINE_MUTEX(keel_lock);
static void *keel_bounce; /* physically contiguous, keel_bounce_size bytes */
static size_t keel_bounce_size;
static unsigned int keel_bounce_order;

/*
 * Keel's event interrupt (KEEL_HC_MGMT_WATCH): each one bumps the sequence
 * and wakes every sleeper, who each ask Keel whether their partition moved.
 */
static DECLARE_WAIT_QUEUE_HEAD(keel_event_wq);
static atomic_t keel_event_seq = ATOMIC_INIT(0);
static int keel_event_irq; /* 0 until the event device is bound */

/* Per open file: the sequence when its last WATCH armed Keel (for poll()). */
struct keel_file {
	int armed_seq;
};

/* A kernel object's guest-physical address: what Keel checks and copies. */
static u64 keel_gpa(const void *p)
{
	return (u64)virt_to_phys((void *)p);
}

/* Keel's status is 0 or a negated Linux errno. */
static long keel_status(const struct keel_hc_result *res)
{
	if (res->status >= 0)
		return 0;
	if (res->status < -4095)
		return -EIO;
	return res->status;
}

static long keel_call(u64 nr, u64 a0, u64 a1, u64 a2, struct keel_hc_result *res)
{
	keel_hypercall(nr, a0, a1, a2, res);
	return keel_status(res);
}

/* ---- one function per ioctl ---------------------------------------------- */

static long keel_ioc_host_info(void __user *uarg)
{
	struct keel_ioc_host_info *k = kzalloc(sizeof(*k), GFP_KERNEL);
	struct keel_hc_result res;
	long ret;

	if (!k)
		return -ENOMEM;
	ret = keel_call(KEEL_HC_MGMT_HOST_INFO, keel_gpa(&k->info), sizeof(k->info), 0, &res);
	if (!ret && copy_to_user(uarg, k, sizeof(*k)))
		ret = -EFAULT;
	kfree(k);
	return ret;
}

/*
 * LIST, PCI_LIST, NET_LIST and BOOT_TIMELINE: up to min(count, @max) records of @size bytes, into a
 * kernel array Keel fills (none for count 0: Keel then only counts).
 */
static long keel_ioc_list(void __user *uarg, u64 nr, size_t size, u32 max)
{
	struct keel_ioc_list l;
	struct keel_hc_result res;
	void *recs = NULL;
	u32 count;
	long ret;

	if (copy_from_user(&l, uarg, sizeof(l)))
		return -EFAULT;
	count = min_t(u32, l.count, max);
	if (count) {
		recs = kcalloc(count, size, GFP_KERNEL);
		if (!recs)
			return -ENOMEM;
	}
	ret = keel_call(nr, recs ? keel_gpa(recs) : 0, count, 0, &res);
	if (!ret && res.r[0] > count)
		ret = -EIO; /* Keel wrote more than it was given room for */
	if (!ret) {
		l.written = (u32)res.r[0];
		l.total = (u32)min_t(u64, res.r[1], U32_MAX);
		if (copy_to_user(u64_to_user_ptr(l.buf), recs, l.written * size) ||
		    copy_to_user(uarg, &l, sizeof(l)))
			ret = -EFAULT;
	}
	kfree(recs);
	return ret;
}

/* The description goes to Keel as the caller packed it; Keel checks all of it. */
static long keel_ioc_create(void __user *uarg)
{
	struct keel_ioc_create c;
	struct keel_hc_result res;
	void *desc;
	long ret;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (c.size < KEEL_PDESC_HEADER_V4 || c.size > KEEL_PDESC_SIZE_MAX)
		return -EINVAL;
	desc = memdup_user(u64_to_user_ptr(c.desc), c.size);
	if (IS_ERR(desc))
		return PTR_ERR(desc);
	ret = keel_call(KEEL_HC_MGMT_CREATE, keel_gpa(desc), c.size, 0, &res);
	if (!ret) {
		c.id = (u32)res.r[0];
		if (put_user(c.id, &((struct keel_ioc_create __user *)uarg)->id))
			ret = -EFAULT;
	}
	kfree(desc);
	return ret;
}

/* LOAD in bounce-buffer pieces; each piece is copied from user memory first. */
static long keel_ioc_load(void __user *uarg)
{
	struct keel_mgmt_load *hl;
	struct keel_ioc_load l;
	struct keel_hc_result res;
	u64 done = 0;
	long ret = 0;

	if (copy_from_user(&l, uarg, sizeof(l)))
		return -EFAULT;
	if (l.len > KEEL_MGMT_IMAGE_MAX || l.offset > KEEL_MGMT_IMAGE_MAX)
		return -E2BIG;
	hl = kzalloc(sizeof(*hl), GFP_KERNEL);
	if (!hl)
		return -ENOMEM;
	while (done < l.len) {
		size_t n = min_t(u64, l.len - done,
				 min_t(size_t, keel_bounce_size, KEEL_MGMT_LOAD_MAX));

		if (copy_from_user(keel_bounce, u64_to_user_ptr(l.buf + done), n)) {
			ret = -EFAULT;
			break;
		}
		hl->id = l.id;
		hl->image = l.image;
		hl->offset = l.offset + done;
		hl->src_gpa = keel_gpa(keel_bounce);
		hl->len = n;
		ret = keel_call(KEEL_HC_MGMT_LOAD, keel_gpa(hl), sizeof(*hl), 0, &res);
		if (ret)
			break;
		done += n;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	kfree(hl);
	return ret;
}

static long keel_ioc_ctl(unsigned int cmd, void __user *uarg)
{
	struct keel_ioc_ctl c;
	struct keel_hc_result res;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	switch (cmd) {
	case KEEL_IOC_START:
		return keel_call(KEEL_HC_MGMT_START, c.id, 0, 0, &res);
	case KEEL_IOC_STOP:
		return keel_call(KEEL_HC_MGMT_STOP, c.id, c.timeout_ms, c.flags, &res);
	case KEEL_IOC_PAUSE:
		return keel_call(KEEL_HC_MGMT_PAUSE, c.id, 0, 0, &res);
	case KEEL_IOC_RESUME:
		return keel_call(KEEL_HC_MGMT_RESUME, c.id, 0, 0, &res);
	case KEEL_IOC_DESTROY:
		return keel_call(KEEL_HC_MGMT_DESTROY, c.id, 0, 0, &res);
	}
	return -ENOTTY;
}

static long keel_ioc_resize(void __user *uarg)
{
	struct keel_ioc_resize r;
	struct keel_hc_result res;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	return keel_call(KEEL_HC_MGMT_RESIZE, r.id, r.what, r.value, &res);
}

/* PCI_ASSIGN or PCI_RELEASE (@nr) of one host function for a partition. */
static long keel_ioc_pci(void __user *uarg, u32 nr)
{
	struct keel_ioc_pci p;
	struct keel_hc_result res;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	return keel_call(nr, p.id, p.addr, 0, &res);
}

static long keel_ioc_stats(void __user *uarg)
{
	struct keel_ioc_stats *s = kzalloc(sizeof(*s), GFP_KERNEL);
	struct keel_hc_result res;
	long ret;

	if (!s)
		return -ENOMEM;
	if (get_user(s->id, (u32 __user *)uarg)) {
		ret = -EFAULT;
		goto out;
	}
	ret = keel_call(KEEL_HC_MGMT_STATS, s->id, keel_gpa(&s->stats), sizeof(s->stats), &res);
	if (!ret && copy_to_user(uarg, s, sizeof(*s)))
		ret = -EFAULT;
out:
	kfree(s);
	return ret;
}

static long keel_ioc_measure(void __user *uarg)
{
	struct keel_ioc_measure *m = kzalloc(sizeof(*m), GFP_KERNEL);
	struct keel_hc_result res;
	long ret;

	if (!m)
		return -ENOMEM;
	if (get_user(m->id, (u32 __user *)uarg)) {
		ret = -EFAULT;
		goto out;
	}
	ret = keel_call(KEEL_HC_MGMT_MEASURE, m->id, keel_gpa(&m->m), sizeof(m->m), &res);
	if (!ret && copy_to_user(uarg, m, sizeof(*m)))
		ret = -EFAULT;
out:
	kfree(m);
	return ret;
}

static long keel_ioc_tpm(void __user *uarg)
{
	struct keel_tpm_report *t = kzalloc(sizeof(*t), GFP_KERNEL);
	struct keel_hc_result res;
	long ret;

	if (!t)
		return -ENOMEM;
	ret = keel_call(KEEL_HC_MGMT_TPM, keel_gpa(t), sizeof(*t), 0, &res);
	if (!ret && copy_to_user(uarg, t, sizeof(*t)))
		ret = -EFAULT;
	kfree(t);
	return ret;
}

static long keel_ioc_console_read(void __user *uarg)
{
	struct keel_mgmt_console *hc;
	struct keel_ioc_console_read r;
	struct keel_hc_result res;
	long ret;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (r.len > KEEL_MGMT_CONSOLE_MAX || r.len > keel_bounce_size)
		return -E2BIG;
	hc = kzalloc(sizeof(*hc), GFP_KERNEL);
	if (!hc)
		return -ENOMEM;
	hc->id = r.id;
	hc->len = r.len;
	hc->cursor = r.cursor;
	hc->buf_gpa = keel_gpa(keel_bounce);
	ret = keel_call(KEEL_HC_MGMT_CONSOLE_READ, keel_gpa(hc), sizeof(*hc), 0, &res);
	if (!ret && res.r[0] > r.len)
		ret = -EIO;
	if (!ret) {
		r.got = res.r[0];
		r.next = res.r[1];
		r.lost = res.r[2];
		if (copy_to_user(u64_to_user_ptr(r.buf), keel_bounce, r.got) ||
		    copy_to_user(uarg, &r, sizeof(r)))
			ret = -EFAULT;
	}
	kfree(hc);
	return ret;
}

static long keel_ioc_console_write(void __user *uarg)
{
	struct keel_ioc_console_write w;
	struct keel_hc_result res;
	long ret;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (w.len > KEEL_MGMT_CONSOLE_MAX || w.len > keel_bounce_size)
		return -E2BIG;
	if (copy_from_user(keel_bounce, u64_to_user_ptr(w.buf), w.len))
		return -EFAULT;
	ret = keel_call(KEEL_HC_MGMT_CONSOLE_WRITE, w.id, keel_gpa(keel_bounce), w.len, &res);
	if (!ret) {
		w.taken = min_t(u64, res.r[0], w.len);
		if (copy_to_user(uarg, &w, sizeof(w)))
			ret = -EFAULT;
	}
	return ret;
}

/*
 * WATCH: ask Keel (which arms the interrupt), and sleep while the count is
 * unchanged. The sequence is read before the call: an interrupt for any
 * event after Keel's answer moves it, so no wake-up is lost.
 */
static long keel_ioc_watch(struct file *file, void __user *uarg)
{
	struct keel_file *kf = file->private_data;
	struct keel_hc_result res;
	struct keel_ioc_watch w;
	unsigned long deadline;
	long ret;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (!READ_ONCE(keel_event_irq))
		return -ENODEV;
	deadline = jiffies + msecs_to_jiffies(w.timeout_ms);
	for (;;) {
		int seq = atomic_read(&keel_event_seq);
		long left;

		if (mutex_lock_interruptible(&keel_lock))
			return -EINTR;
		ret = keel_call(KEEL_HC_MGMT_WATCH, w.id, 0, 0, &res);
		mutex_unlock(&keel_lock);
		if (ret)
			return ret;
		WRITE_ONCE(kf->armed_seq, seq);
		if (res.r[0] != w.seen || !w.timeout_ms)
			break;
		left = (long)(deadline - jiffies);
		if (left <= 0)
			break;
		left = wait_event_interruptible_timeout(keel_event_wq,
							atomic_read(&keel_event_seq) != seq, left);
		if (left < 0)
			return left; /* a signal */
	}
	w.seen = res.r[0];
	w.state = (u32)res.r[1];
	w.console_bytes = res.r[2];
	return copy_to_user(uarg, &w, sizeof(w)) ? -EFAULT : 0;
}

static long keel_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	long ret;

	if (cmd == KEEL_IOC_WATCH)
		return keel_ioc_watch(file, uarg); /* sleeps: takes the lock per call */
	if (mutex_lock_interruptible(&keel_lock))
		return -EINTR;
	switch (cmd) {
	case KEEL_IOC_HOST_INFO:
		ret = keel_ioc_host_info(uarg);
		break;
	case KEEL_IOC_LIST:
		ret = keel_ioc_list(uarg, KEEL_HC_MGMT_LIST, sizeof(struct keel_part_status),
				    KEEL_MAX_PARTITIONS);
		break;
	case KEEL_IOC_PCI_LIST:
		ret = keel_ioc_list(uarg, KEEL_HC_MGMT_PCI_LIST, sizeof(struct keel_pci_dev),
				    KEEL_PCI_MAX_DEVS);
		break;
	case KEEL_IOC_NET_LIST:
		ret = keel_ioc_list(uarg, KEEL_HC_MGMT_NET_LIST, sizeof(struct keel_net_rec),
				    KEEL_NET_LIST_MAX);
		break;
	case KEEL_IOC_MEASURE:
		ret = keel_ioc_measure(uarg);
		break;
	case KEEL_IOC_TPM:
		ret = keel_ioc_tpm(uarg);
		break;
	case KEEL_IOC_BOOT_TIMELINE:
		ret = keel_ioc_list(uarg, KEEL_HC_MGMT_BOOT_TIMELINE,
				    sizeof(struct keel_boot_event), KEEL_BOOT_EVENTS_MAX);
		break;
	case KEEL_IOC_CREATE:
		ret = keel_ioc_create(uarg);
		break;
	case KEEL_IOC_LOAD:
		ret = keel_ioc_load(uarg);
		break;
	case KEEL_IOC_START:
	case KEEL_IOC_STOP:
	case KEEL_IOC_PAUSE:
	case KEEL_IOC_RESUME:
	case KEEL_IOC_DESTROY:
		ret = keel_ioc_ctl(cmd, uarg);
		break;
	case KEEL_IOC_STATS:
		ret = keel_ioc_stats(uarg);
		break;
	case KEEL_IOC_CONSOLE_READ:
		ret = keel_ioc_console_read(uarg);
		break;
	case KEEL_IOC_CONSOLE_WRITE:
		ret = keel_ioc_console_write(uarg);
		break;
	case KEEL_IOC_RESIZE:
		ret = keel_ioc_resize(uarg);
		break;
	case KEEL_IOC_PCI_ASSIGN:
		ret = keel_ioc_pci(uarg, KEEL_HC_MGMT_PCI_ASSIGN);
		break;
	case KEEL_IOC_PCI_RELEASE:
		ret = keel_ioc_pci(uarg, KEEL_HC_MGMT_PCI_RELEASE);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&keel_lock);
	return ret;
}

/* Root only: the node is 0600 and the opener needs CAP_SYS_ADMIN. */
static int keel_open(struct inode *inode, struct file *file)
{
	struct keel_file *kf;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	kf = kzalloc(sizeof(*kf), GFP_KERNEL);
	if (!kf)
		return -ENOMEM;
	kf->armed_seq = atomic_read(&keel_event_seq);
	file->private_data = kf;
	return 0;
}

static int keel_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

/* Readable once an event interrupt came after this file's last WATCH. */
static __poll_t keel_poll(struct file *file, poll_table *pt)
{
	struct keel_file *kf = file->private_data;

	poll_wait(file, &keel_event_wq, pt);
	return atomic_read(&keel_event_seq) != READ_ONCE(kf->armed_seq) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations keel_fops = {
	.owner = THIS_MODULE,
	.open = keel_open,
	.release = keel_release,
	.poll = keel_poll,
	.unlocked_ioctl = keel_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice keel_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "keel",
	.fops = &keel_fops,
	.mode = 0600,
};

/* ---- the event interrupt's device (ACPI KEEL0001, DT keel,mgmt-events) ---- */

static irqreturn_t keel_event_isr(int irq, void *dev)
{
	atomic_inc(&keel_event_seq);
	wake_up_interruptible_all(&keel_event_wq);
	return IRQ_HANDLED;
}

static int keel_event_probe(struct platform_device *pdev)
{
	int irq = platform_get_irq(pdev, 0);
	int ret;

	if (irq < 0)
		return irq;
	ret = devm_request_irq(&pdev->dev, irq, keel_event_isr, 0, "keel-events", NULL);
	if (ret)
		return ret;
	WRITE_ONCE(keel_event_irq, irq);
	dev_info(&pdev->dev, "event interrupt %d: keelctl waits without polling\n", irq);
	return 0;
}

static int keel_event_remove(struct platform_device *pdev)
{
	WRITE_ONCE(keel_event_irq, 0);
	return 0;
}

static const struct of_device_id keel_event_of[] = {
	{ .compatible = KEEL_MGMT_EVENT_COMPAT },
	{},
};
MODULE_DEVICE_TABLE(of, keel_event_of);

static const struct acpi_device_id keel_event_acpi[] = {
	{ KEEL_MGMT_EVENT_HID, 0 },
	{},
};
MODULE_DEVICE_TABLE(acpi, keel_event_acpi);

static struct platform_driver keel_event_driver = {
	.probe = keel_event_probe,
	.remove = keel_event_remove,
	.driver = {
		.name = "keel-events",
		.of_match_table = keel_event_of,
		.acpi_match_table = keel_event_acpi,
	},
};

/* The largest contiguous bounce buffer we can get, up to one LOAD's maximum. */
static int keel_alloc_bounce(void)
{
	unsigned int order = get_order(KEEL_MGMT_LOAD_MAX);

	for (;;) {
		keel_bounce = (void *)__get_free_pages(GFP_KERNEL | __GFP_NOWARN, order);
		if (keel_bounce || order == 0)
			break;
		order--;
	}
	if (!keel_bounce)
		return -ENOMEM;
	keel_bounce_order = order;
	keel_bounce_size = PAGE_SIZE << order;
	return 0;
}

static int __init keel_init(void)
{
	struct keel_hc_result res;
	int ret;

	if (!keel_detect()) {
		pr_err("keel: not running under the Keel hypervisor\n");
		return -ENODEV;
	}
	keel_hypercall(KEEL_HC_VERSION, 0, 0, 0, &res);
	if (res.status != 0 || (res.r[0] >> 16) != KEEL_ABI_VERSION_MAJOR) {
		pr_err("keel: hypervisor ABI %llu.%llu, this driver speaks %u.%u\n", res.r[0] >> 16,
		       res.r[0] & 0xffff, KEEL_ABI_VERSION_MAJOR, KEEL_ABI_VERSION_MINOR);
		return -ENODEV;
	}
	if (!(res.r[1] & KEEL_FEAT_MGMT)) {
		pr_err("keel: this partition is not Keel's management partition\n");
		return -EPERM;
	}
	ret = keel_alloc_bounce();
	if (ret)
		return ret;
	ret = misc_register(&keel_misc);
	if (ret) {
		free_pages((unsigned long)keel_bounce, keel_bounce_order);
		return ret;
	}
	/* Without the event device (an older Keel), WATCH says ENODEV and keelctl polls. */
	ret = platform_driver_register(&keel_event_driver);
	if (ret) {
		misc_deregister(&keel_misc);
		free_pages((unsigned long)keel_bounce, keel_bounce_order);
		return ret;
	}
	pr_info("keel: /dev/keel ready (hypervisor ABI %llu.%llu, %zu KiB bounce buffer)\n",
		res.r[0] >> 16, res.r[0] & 0xffff, keel_bounce_size >> 10);
	return 0;
}

static void __exit keel_exit(void)
{
	platform_driver_unregister(&keel_event_driver);
	misc_deregister(&keel_misc);
	free_pages((unsigned long)keel_bounce, keel_bounce_order);
}

module_init(keel_init);
module_exit(keel_exit);
MODULE_DESCRIPTION("Keel hypervisor management interface (/dev/keel)");
MODULE_LICENSE("Dual MIT/GPL");
